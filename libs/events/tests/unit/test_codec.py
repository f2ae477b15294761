"""The codec: every pinned signal round-trips; every kind of bad input gives InvalidEvent
with a message naming the problem."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interventions_events import Envelope, InvalidEvent, codec, decode, encode
from interventions_events.base import REGISTRY, Event, register, upcaster
from interventions_events.codec import decode_fields
from interventions_events.signals import (
    BudgetMetricsReported,
    CanaryMetricsReported,
    EvalRunCompleted,
    GateEvaluated,
)

EVAL = {
    "run_id": "run-42",
    "agent": "inbox.triage",
    "task_id": "triage-001",
    "quality_score": 91.0,
    "latency_ms": 420.0,
    "cost_usd": 0.002,
    "invariants": [
        {
            "id": "data_freshness_inbox",
            "name": "Data freshness",
            "passed": False,
            "priority": "critical",
            "threshold": 300,
            "actual": 1800,
            "unit": "seconds",
            "message": "inbox data is 1800 s old",
        }
    ],
}
BUDGET = {
    "agent": "inbox.triage",
    "window_start": "2026-11-26T20:00:00Z",
    "window_end": "2026-11-26T21:00:00Z",
    "samples": 500,
    "metrics": {
        "quality_score": 90.1,
        "success_rate": 0.97,
        "avg_latency_ms": 420,
        "p95_latency_ms": 1850,
        "p99_latency_ms": 2500,
        "cost_usd": 1.2,
    },
}
CANARY = {
    "planner": "planner",
    "version": "v1.2.3-canary",
    "baseline_version": "v1.2.2",
    "canary_percent": 10,
    "samples": 200,
    "metrics": {"accuracy": 0.79, "p95_latency_ms": 900, "cost_usd": 0.02},
    "baseline": {"accuracy": 0.92, "p95_latency_ms": 850, "cost_usd": 0.02},
}
GATE = {
    "gate": "nightly",
    "agent": "warehouse.health",
    "passed": False,
    "violations": [
        {
            "budget_type": "quality",
            "threshold": 90,
            "actual": 82,
            "severity": "critical",
            "message": "quality 82 below 90",
        }
    ],
}


def cloudevent(type_: str, data: object, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "test",
        "type": type_,
        "time": "2026-11-26T21:00:00Z",
        "datacontenttype": "application/json",
        "schemaversion": 1,
        "data": data,
    }
    doc.update(extra)
    return doc


@pytest.mark.parametrize(
    "model,data",
    [
        (EvalRunCompleted, EVAL),
        (BudgetMetricsReported, BUDGET),
        (CanaryMetricsReported, CANARY),
        (GateEvaluated, GATE),
    ],
)
def test_each_pinned_signal_round_trips(model: type[Event], data: dict[str, object]) -> None:
    env = decode(orjson.dumps(cloudevent(model.__name__, data)))
    assert isinstance(env.data, model)
    again = decode(encode(env))
    assert again.data == env.data
    assert again.id == env.id and again.type == model.__name__ and again.schemaversion == 1


def test_envelope_carries_pinned_attributes() -> None:
    env = Envelope(
        data=GateEvaluated.model_validate(GATE),
        source="s",
        subject="warehouse.health",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    doc = orjson.loads(encode(env))
    for attr in (
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "schemaversion",
        "traceparent",
        "data",
    ):
        assert attr in doc


def _raw(doc: object) -> bytes:
    return orjson.dumps(doc)


BAD: list[tuple[str, bytes, str]] = [
    ("not json", b"{not json", "not valid UTF-8 JSON"),
    ("not utf-8", b'{"id": "\xff\xfe"}', "UTF-8"),
    ("missing field", _raw(cloudevent("EvalRunCompleted", {"agent": "a"})), "run_id"),
    ("wrong type", _raw(cloudevent("GateEvaluated", {**GATE, "passed": "maybe"})), "passed"),
    ("NaN", _raw(cloudevent("EvalRunCompleted", EVAL)).replace(b"91.0", b"NaN"), "JSON"),
    ("unknown type", _raw(cloudevent("EvalRunExploded", EVAL)), "unknown event type"),
    ("future schema", _raw(cloudevent("EvalRunCompleted", EVAL, schemaversion=9)), "future"),
    ("oversize", _raw(cloudevent("EvalRunCompleted", {**EVAL, "pad": "x" * 1_100_000})), "limit"),
    ("null data", _raw(cloudevent("EvalRunCompleted", None)), "'data' must be a JSON object"),
    ("not an object", b"[1, 2, 3]", "must be a JSON object"),
    ("missing envelope attribute", _raw({"type": "EvalRunCompleted", "data": EVAL}), "missing"),
    (
        "bad specversion",
        _raw(cloudevent("EvalRunCompleted", EVAL, specversion="0.3")),
        "specversion",
    ),
    ("bad time", _raw(cloudevent("EvalRunCompleted", EVAL, time="yesterday")), "RFC 3339"),
    (
        "infinite number",
        _raw(cloudevent("EvalRunCompleted", EVAL)).replace(b"91.0", b"1e999"),
        "JSON",
    ),
    ("empty id", _raw(cloudevent("EvalRunCompleted", EVAL, id="")), "'id'"),
]


@pytest.mark.parametrize("name,raw,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gives_one_typed_error_naming_the_problem(
    name: str, raw: bytes, expected: str
) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(raw)
    assert expected in info.value.reason, info.value.reason


def test_extra_unknown_fields_are_accepted() -> None:
    env = decode(_raw(cloudevent("EvalRunCompleted", {**EVAL, "new_field": 1}, newattr="x")))
    assert isinstance(env.data, EvalRunCompleted)


def test_upcasters_run_in_order_before_validation() -> None:
    @register("test.topic", version=3)
    class Renamed(Event):
        name: str
        count: int

    @upcaster("Renamed", 1)
    def v1_to_v2(data: dict[str, object]) -> dict[str, object]:
        return {"name": data["title"], **{k: v for k, v in data.items() if k != "title"}}

    @upcaster("Renamed", 2)
    def v2_to_v3(data: dict[str, object]) -> dict[str, object]:
        return {**data, "count": 0}

    try:
        env = decode(_raw(cloudevent("Renamed", {"title": "old"}, schemaversion=1)))
        assert env.data == Renamed(name="old", count=0)
        renamed = decode(_raw(cloudevent("Renamed", {"name": "n", "count": 2}, schemaversion=3)))
        assert renamed.data == Renamed(name="n", count=2)
    finally:
        REGISTRY.pop("Renamed")


# several problems at once: the first one in the codec's order is the reason given
MANY_PROBLEMS: list[tuple[str, bytes]] = [
    ("bad data and source", _raw(cloudevent("GateEvaluated", {"gate": 1}, source=""))),
    ("bad source and time", _raw(cloudevent("GateEvaluated", GATE, source=3, time="now"))),
    ("future and bad data", _raw(cloudevent("GateEvaluated", None, schemaversion=7))),
    ("id and type", _raw(cloudevent(5, GATE, id=7))),  # type: ignore[arg-type]
]
ALL_BAD = [(name, raw) for name, raw, _ in BAD] + MANY_PROBLEMS


@pytest.mark.parametrize("name,raw", ALL_BAD, ids=[b[0] for b in ALL_BAD])
def test_decode_fields_rejects_what_decode_rejects_with_the_same_reason(
    name: str, raw: bytes
) -> None:
    with pytest.raises(InvalidEvent) as full:
        decode(raw)
    with pytest.raises(InvalidEvent) as lean:
        decode_fields(raw)
    assert (lean.value.reason, lean.value.event_id, lean.value.event_type) == (
        full.value.reason,
        full.value.event_id,
        full.value.event_type,
    )


@pytest.mark.parametrize(
    "type_,data,extra",
    [
        ("EvalRunCompleted", EVAL, {"subject": "inbox.triage"}),
        ("BudgetMetricsReported", BUDGET, {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16}),
        ("CanaryMetricsReported", CANARY, {"time": "2026-11-26T21:00:00.5+02:00"}),
        ("GateEvaluated", GATE, {"subject": 3}),
    ],
)
def test_decode_fields_gives_what_the_envelope_holds(
    type_: str, data: dict[str, object], extra: dict[str, object]
) -> None:
    raw = _raw(cloudevent(type_, data, **extra))
    env, f = decode(raw), decode_fields(raw)
    assert (f.id, f.source, f.time, f.data, f.subject, f.traceparent) == (
        env.id,
        env.source,
        env.time,
        env.data,
        env.subject,
        env.traceparent,
    )


class Text(str):
    """A str subclass: the fast path takes only exact types, the checked path isinstance."""


ODD: list[object] = [
    None,
    "",
    "x" * 301,
    "x" * 300,
    0,
    1,
    2,
    True,
    1.0,
    "1.0",
    Text("1.0"),
    Text("evt-2"),
    "2026-11-26T21:00:00",
    "2026-11-26T21:00:00+02:00",
    "yesterday",
    {},
    [],
    "EvalRunCompleted",
    "GateEvaluated",
    "EvalRunExploded",
    {**EVAL, "run_id": ""},
    {**GATE, "passed": "maybe"},
    EVAL,
    GATE,
]
ATTRS = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "schemaversion",
    "data",
    "subject",
    "traceparent",
]
MISSING = object()


@settings(max_examples=600, deadline=None)
@given(
    base=st.sampled_from([("EvalRunCompleted", EVAL), ("GateEvaluated", GATE)]),
    changes=st.dictionaries(st.sampled_from(ATTRS), st.sampled_from([MISSING, *ODD]), max_size=3),
)
def test_the_fast_path_decides_as_every_check_in_order_does(
    base: tuple[str, dict[str, object]], changes: dict[str, object]
) -> None:
    """`_fields` takes the common, valid case in one frame and hands everything else to
    `_fields_checked`: for any document both give the same fields or the same error."""
    doc = cloudevent(*base)
    for name, value in changes.items():
        if value is MISSING:
            doc.pop(name, None)
        else:
            doc[name] = value
    outcomes: list[tuple[object, ...]] = []
    for decide in (codec._fields, codec._fields_checked):
        try:
            f = decide(doc)
        except InvalidEvent as exc:
            outcomes.append(("invalid", exc.reason, exc.event_id, exc.event_type))
        else:
            assert type(f) is codec.Fields
            # a missing time is "now" on both paths, read at different instants
            at = f.time if doc.get("time") is not None else None
            outcomes.append(("ok", f.id, f.source, at, f.data, f.subject, f.traceparent))
    assert outcomes[0] == outcomes[1]
