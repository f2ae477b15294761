"""Commands on one incident (imperative; `decide` turns them into events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interventions_events.incidents import Resolution, Severity


@dataclass(frozen=True, slots=True)
class OpenIncident:
    incident_id: int
    kind: str
    key: str
    subject: str
    severity: Severity
    summary: str
    details: dict[str, Any]
    playbooks: tuple[str, ...]
    owner_team: str
    detection_id: str
    rule: str
    by: str = "system"


@dataclass(frozen=True, slots=True)
class Acknowledge:
    incident_id: int
    by: str
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class Mitigate:
    incident_id: int
    by: str
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    incident_id: int
    by: str
    notes: str | None = None
    resolution: Resolution = "fixed"


@dataclass(frozen=True, slots=True)
class Close:
    incident_id: int
    by: str
    notes: str | None = None
    reason: str = "manual"


@dataclass(frozen=True, slots=True)
class Reopen:
    incident_id: int
    by: str
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeSeverity:
    incident_id: int
    by: str
    severity: Severity
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    incident_id: int
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class AddNote:
    incident_id: int
    by: str
    text: str


@dataclass(slots=True)
class RecordOccurrence:
    """Not frozen, unlike the other commands: the writer makes one per occurrence event, and
    frozen, its seven fields were set at a third of the speed (`object.__setattr__` each)."""

    incident_id: int
    detection_id: str
    observed_at: datetime
    rule: str
    details: dict[str, Any] = field(default_factory=dict)
    by: str = "system"
    count: int = 1  # detections this occurrence records (see OccurrenceRecorded)


@dataclass(frozen=True, slots=True)
class ObserveRecovery:
    incident_id: int
    detection_id: str
    by: str = "system"


@dataclass(frozen=True, slots=True)
class RecordAction:
    incident_id: int
    execution_id: str
    action_type: str
    step: str
    by: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LinkIssue:
    incident_id: int
    provider: str
    url: str
    by: str = "issue-sync"


@dataclass(frozen=True, slots=True)
class RecordNotification:
    incident_id: int
    step: str
    sink: str | None = None
    level: str | None = None
    detail: str | None = None
    by: str = "notifier"


Command = (
    OpenIncident
    | Acknowledge
    | Mitigate
    | Resolve
    | Close
    | Reopen
    | ChangeSeverity
    | Escalate
    | AddNote
    | RecordOccurrence
    | ObserveRecovery
    | RecordAction
    | LinkIssue
    | RecordNotification
)
# commands a person sends over HTTP (the others come from detections and other services)
LIFECYCLE = (Acknowledge, Mitigate, Resolve, Close, Reopen, ChangeSeverity, Escalate, AddNote)
