"""Bytes <-> typed events. Anything invalid raises InvalidEvent with a message naming the
problem, so consumers can dead-letter it with the reason and move on."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import orjson
from pydantic import ValidationError

from .base import REGISTRY, Event, JsonDict, upcast
from .envelope import CONTENT_TYPE, SPECVERSION, Envelope, utcnow

MAX_EVENT_BYTES = 1_048_576
_REQUIRED = ("specversion", "id", "source", "type", "data")
_REQUIRED_SET = frozenset(_REQUIRED)


class InvalidEvent(ValueError):
    """The one error type for any message that cannot be turned into a typed event."""

    def __init__(self, reason: str, *, event_id: str | None = None, event_type: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.event_type = event_type


def encode(env: Envelope[Any]) -> bytes:
    """Serialize an envelope to CloudEvents structured-mode JSON bytes."""
    return orjson.dumps(to_dict(env))


def to_dict(env: Envelope[Any]) -> JsonDict:
    """The CloudEvents document."""
    return document(
        env.data,
        env.data.model_dump(mode="json"),
        event_id=env.id,
        source=env.source,
        time=env.time,
        subject=env.subject,
        traceparent=env.traceparent,
    )


def document(
    event: Event,
    data: JsonDict,
    *,
    event_id: str,
    source: str,
    time: datetime,
    subject: str | None = None,
    traceparent: str | None = None,
) -> JsonDict:
    """The CloudEvents document of `event` with these attributes, `data` = its fields already
    dumped (JSON values, or times for orjson). A writer that stores the same dump calls it
    without building an Envelope: a frozen one cost ~16,500 instructions, for each incident
    event stored."""
    doc: JsonDict = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": event.type_name,
        "time": time.isoformat(),
        "datacontenttype": CONTENT_TYPE,
        "schemaversion": event.schema_version,
        "data": data,
    }
    if subject is not None:
        doc["subject"] = subject
    if traceparent is not None:
        doc["traceparent"] = traceparent
    return doc


class Decoded(Protocol):
    """What a consumer reads of a decoded event, from an Envelope or from `decode_fields`."""

    @property
    def id(self) -> str: ...

    @property
    def data(self) -> Event: ...

    @property
    def traceparent(self) -> str | None: ...


class Fields(NamedTuple):
    """A decoded event's attributes and typed payload, without the Envelope (see
    `decode_fields`)."""

    id: str
    source: str
    time: datetime
    data: Event
    subject: str | None
    traceparent: str | None


def decode(raw: bytes | bytearray | memoryview | str) -> Envelope[Event]:
    """Parse and validate one message; raises InvalidEvent saying what is wrong."""
    return from_dict(_load(raw))


def decode_fields(raw: bytes | bytearray | memoryview | str) -> Fields:
    """`decode` for hot consumers: the same checks in the same order (so the same InvalidEvent
    reasons), returning the attributes as a tuple instead of building an Envelope."""
    return _fields(_load(raw))


def from_dict(doc: Any) -> Envelope[Event]:
    """Validate an already-parsed CloudEvent document into a typed envelope."""
    f = _fields(doc)
    return Envelope(
        data=f.data,
        source=f.source,
        id=f.id,
        time=f.time,
        subject=f.subject,
        traceparent=f.traceparent,
    )


def _load(raw: bytes | bytearray | memoryview | str) -> Any:
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid UTF-8 JSON: {exc}") from None


def _fields(doc: Any) -> Fields:
    """The common, valid case in one frame, with no check the slow path would not also make;
    anything it does not take as it is (an error, an upcast, a missing time) goes the slow
    path, which gives every reason. The small calls of the slow path cost ~17,000
    instructions per event (`Fields(...)` alone ~3,300, through its Python `__new__`),
    beside the payload model's own validation's ~24,000."""
    if type(doc) is not dict:
        return _fields_checked(doc)
    try:
        event_id, type_name, source, data = doc["id"], doc["type"], doc["source"], doc["data"]
        specversion = doc["specversion"]
    except KeyError:
        return _fields_checked(doc)
    spec = REGISTRY.get(type_name) if type(type_name) is str else None
    time, version = doc.get("time"), doc.get("schemaversion", 1)
    if (
        spec is None
        or type(event_id) is not str
        or not 0 < len(event_id) <= 300
        or specversion != SPECVERSION
        or type(source) is not str
        or not source
        or type(data) is not dict
        or type(time) is not str
        or type(version) is not int
        or version != spec.version
    ):
        return _fields_checked(doc)
    try:
        at = datetime.fromisoformat(time)
        payload: Event = spec.model.__pydantic_validator__.validate_python(data)
    except ValueError:  # pydantic's ValidationError is one too
        return _fields_checked(doc)
    if at.tzinfo is None:
        return _fields_checked(doc)
    subject, traceparent = doc.get("subject"), doc.get("traceparent")
    return _new_fields(
        Fields,
        (
            event_id,
            source,
            at,
            payload,
            subject if isinstance(subject, str) else None,
            traceparent if isinstance(traceparent, str) else None,
        ),
    )


_new_fields = tuple.__new__  # a C call; `Fields(...)` runs the NamedTuple's Python `__new__`


def _fields_checked(doc: Any) -> Fields:
    """Every check in its order, each failure with its reason."""
    if not isinstance(doc, dict):
        raise InvalidEvent(f"a CloudEvent must be a JSON object, got {type(doc).__name__}")
    if not doc.keys() >= _REQUIRED_SET:  # one set check; the list only to say what is missing
        missing = [name for name in _REQUIRED if name not in doc]
        raise InvalidEvent(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    event_id, type_name = doc["id"], doc["type"]
    if not isinstance(event_id, str) or not event_id or len(event_id) > 300:
        raise InvalidEvent("attribute 'id' must be a non-empty string of at most 300 chars")
    if not isinstance(type_name, str):
        raise InvalidEvent("attribute 'type' must be a string", event_id=event_id)
    if doc["specversion"] != SPECVERSION:
        raise InvalidEvent(
            f"specversion must be '1.0', got {doc['specversion']!r}", event_id=event_id
        )
    spec = REGISTRY.get(type_name)
    if spec is None:
        raise InvalidEvent(
            f"unknown event type {type_name!r}", event_id=event_id, event_type=type_name
        )
    # the payload, then source, then time: the order the checks have always run in
    data = _payload(doc, spec, event_id)
    source = _str_attr(doc, "source", event_id)
    return Fields(
        event_id,
        source,
        _time(doc.get("time"), event_id),
        data,
        _opt_str(doc.get("subject")),
        _opt_str(doc.get("traceparent")),
    )


def _payload(doc: JsonDict, spec: Any, event_id: str) -> Event:
    version = doc.get("schemaversion", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidEvent(
            f"schemaversion must be a positive integer, got {version!r}", event_id=event_id
        )
    if version > spec.version:
        raise InvalidEvent(
            f"{spec.model.__name__} schemaversion {version} is from the future "
            f"(this consumer knows up to {spec.version})",
            event_id=event_id,
            event_type=spec.model.__name__,
        )
    data = doc["data"]
    if not isinstance(data, dict):
        raise InvalidEvent(f"'data' must be a JSON object, got {_kind(data)}", event_id=event_id)
    try:
        if version < spec.version:
            data = upcast(spec, data, version)
        model: Event = spec.model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(
            f"{spec.model.__name__} data is invalid: {_summarise(exc)}",
            event_id=event_id,
            event_type=spec.model.__name__,
        ) from None
    except LookupError as exc:
        raise InvalidEvent(
            f"cannot upcast {spec.model.__name__}: {exc}", event_id=event_id
        ) from None
    return model


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _str_attr(doc: JsonDict, name: str, event_id: str) -> str:
    value = doc[name]
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"attribute {name!r} must be a non-empty string", event_id=event_id)
    return value


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any, event_id: str) -> datetime:
    if value is None:
        return utcnow()
    try:  # Python 3.11's fromisoformat reads RFC 3339's "Z" itself
        parsed = datetime.fromisoformat(value if isinstance(value, str) else str(value))
    except ValueError:
        raise InvalidEvent(
            f"attribute 'time' is not RFC 3339: {value!r}", event_id=event_id
        ) from None
    if parsed.tzinfo is None:
        raise InvalidEvent("attribute 'time' must carry a timezone (e.g. 'Z')", event_id=event_id)
    return parsed


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    return type(value).__name__
