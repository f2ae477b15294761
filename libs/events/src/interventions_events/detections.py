"""Detections: the watcher's findings for the incident service (DESIGN.md, "Detections")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from . import topics
from .base import Event, register

DetectionKind = Literal["invariant", "budget", "planner", "platform"]


class DetectionData(Event):
    """Shared shape of every detection; the type says what happened."""

    kind: DetectionKind
    key: str = Field(min_length=1, max_length=300)
    subject: str = Field(max_length=300)
    observed_at: datetime
    source_event_id: str = Field(max_length=300)
    hint: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


@register(topics.DETECTIONS)
class InvariantViolated(DetectionData):
    pass


@register(topics.DETECTIONS)
class BudgetExceeded(DetectionData):
    pass


@register(topics.DETECTIONS)
class PlannerRegressed(DetectionData):
    pass


@register(topics.DETECTIONS)
class PlatformAlertRaised(DetectionData):
    """A self-alert about the platform itself (kind `platform`)."""


@register(topics.DETECTIONS)
class SignalRecovered(DetectionData):
    """A check that failed for `key` passes again."""


@register(topics.DETECTIONS)
class WatcherHeartbeat(Event):
    watcher_id: str
    cycle: int = Field(ge=0)
    at: datetime
    checks: dict[str, str] = Field(default_factory=dict)


Detection = (
    InvariantViolated | BudgetExceeded | PlannerRegressed | PlatformAlertRaised | SignalRecovered
)
FAILURE_TYPES = (InvariantViolated, BudgetExceeded, PlannerRegressed, PlatformAlertRaised)
# every concrete detection type, for `type(x) in DETECTION_TYPES`: `isinstance(x, DetectionData)`
# of a subclass goes through pydantic's ABCMeta.__instancecheck__, a Python call (~600
# instructions), which hot consumers paid several times per detection
DETECTION_TYPES = frozenset((*FAILURE_TYPES, SignalRecovered))
