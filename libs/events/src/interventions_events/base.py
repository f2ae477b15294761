"""Base class for every event payload, and the registry of event types by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


class Event(BaseModel):
    """An immutable past-tense fact (or an imperative command). Unknown fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str]


@dataclass
class EventSpec:
    """What the codec knows about one event type."""

    model: type[Event]
    version: int
    topic: str
    upcasters: dict[int, Upcaster] = field(default_factory=dict)


REGISTRY: dict[str, EventSpec] = {}

E = TypeVar("E", bound=type[Event])


def register(topic: str, *, version: int = 1) -> Callable[[E], E]:
    """Class decorator: make an event type known to the codec under its class name."""

    def wrap(cls: E) -> E:
        cls.type_name = cls.__name__
        cls.schema_version = version
        cls.topic = topic
        REGISTRY[cls.__name__] = EventSpec(model=cls, version=version, topic=topic)
        return cls

    return wrap


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register one pure step that turns version `from_version` data into `from_version + 1`."""

    def wrap(fn: Upcaster) -> Upcaster:
        REGISTRY[type_name].upcasters[from_version] = fn
        return fn

    return wrap


def upcast(spec: EventSpec, data: JsonDict, version: int) -> JsonDict:
    """Apply the registered steps from `version` up to the current one, in order."""
    while version < spec.version:
        step = spec.upcasters.get(version)
        if step is None:
            raise LookupError(f"no upcaster from version {version}")
        data = step(data)
        version += 1
    return data
