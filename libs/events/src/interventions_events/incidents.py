"""Events of the incident service, published on `incidents` (key = incident id, or the
detection key for decisions that opened nothing).

Each published event's data also carries `incident`: the incident JSON after the event
(absent for DetectionSuppressed), so consumers never need to fold the stream themselves.

Streams in the incident store (docs/incidents.md): `incident-<id>` holds the incident events
below; `key-<incident key>` holds one `DetectionDecided` per detection (never published).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from . import topics
from .base import Event, register

Severity = Literal["sev1", "sev2", "sev3", "sev4"]
Status = Literal["open", "acknowledged", "mitigated", "resolved", "closed"]
Resolution = Literal["fixed", "false_positive", "duplicate", "wont_fix"]


class IncidentEvent(Event):
    incident_id: int
    at: datetime
    by: str = "system"
    incident: dict[str, Any] | None = None


@register(topics.INCIDENTS)
class IncidentOpened(IncidentEvent):
    kind: str
    key: str
    subject: str = ""
    severity: Severity
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)
    playbooks: tuple[str, ...] = ()
    owner_team: str
    detection_id: str
    rule: str


@register(topics.INCIDENTS)
class OccurrenceRecorded(IncidentEvent):
    """Detections of the key recorded on its active incident: `count` of one batch, the latest named.

    The detections of one consumer batch are one event, naming the latest (its id, time
    and evidence); each has its own DetectionDecided on the key stream. Before 2026-11-27
    every event recorded one (no `count`)."""

    key: str
    detection_id: str
    observed_at: datetime
    rule: str
    details: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1)


@register(topics.INCIDENTS)
class DetectionSuppressed(Event):
    key: str
    detection_id: str
    at: datetime
    observed_at: datetime
    rule: str
    window_started_at: datetime
    opened_in_window: int
    limit: int


Decision = Literal["opened", "deduplicated", "suppressed", "recovered", "ignored"]


@register(topics.INCIDENTS)
class DetectionDecided(Event):
    """What the incident service decided for one detection, and the rule behind it. Stored on
    the key stream `key-<key>` (never published); `GET /api/detections?key=` lists them."""

    key: str
    detection_id: str
    detection_type: str
    decision: Decision
    rule: str
    reason: str
    incident_id: int | None = None
    subject: str = ""
    hint: str | None = None
    observed_at: datetime
    at: datetime
    window_started_at: datetime | None = None
    window_seconds: float | None = None
    opened_in_window: int | None = None
    limit: int | None = None
    # the detection's kind and evidence, so a what-if replay (`interventions simulate`) can
    # assess any detection exactly; None on decisions recorded before they were stored
    kind: str | None = None
    evidence: dict[str, Any] | None = None


@register(topics.INCIDENTS)
class IncidentAcknowledged(IncidentEvent):
    notes: str | None = None


@register(topics.INCIDENTS)
class IncidentMitigated(IncidentEvent):
    notes: str | None = None


@register(topics.INCIDENTS)
class IncidentResolved(IncidentEvent):
    notes: str | None = None
    resolution: Resolution = "fixed"


@register(topics.INCIDENTS)
class IncidentClosed(IncidentEvent):
    notes: str | None = None
    reason: str = "manual"


@register(topics.INCIDENTS)
class IncidentReopened(IncidentEvent):
    notes: str | None = None


@register(topics.INCIDENTS)
class SeverityChanged(IncidentEvent):
    from_severity: Severity
    to_severity: Severity
    reason: str


@register(topics.INCIDENTS)
class IncidentEscalated(IncidentEvent):
    reason: str


@register(topics.INCIDENTS)
class NoteAdded(IncidentEvent):
    text: str


@register(topics.INCIDENTS)
class SignalRecoveryObserved(IncidentEvent):
    key: str
    detection_id: str


@register(topics.INCIDENTS)
class ActionRecorded(IncidentEvent):
    """An action step from the playbooks service, put on the incident's timeline."""

    execution_id: str
    action_type: str
    step: str
    detail: str | None = None


@register(topics.INCIDENTS)
class IssueLinkRecorded(IncidentEvent):
    provider: str
    url: str


@register(topics.INCIDENTS)
class NotificationRecorded(IncidentEvent):
    """A page, message or escalation from the notifier, put on the incident's timeline."""

    step: str
    sink: str | None = None
    level: str | None = None
    detail: str | None = None


INCIDENT_EVENT_TYPES = (
    IncidentOpened,
    OccurrenceRecorded,
    IncidentAcknowledged,
    IncidentMitigated,
    IncidentResolved,
    IncidentClosed,
    IncidentReopened,
    SeverityChanged,
    IncidentEscalated,
    NoteAdded,
    SignalRecoveryObserved,
    ActionRecorded,
    IssueLinkRecorded,
    NotificationRecorded,
)
