"""Pure sync rules: which ticket operations an incident or action event calls for."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from interventions_events import Event
from interventions_events import actions as act
from interventions_events import incidents as inc

OpKind = Literal["open", "comment", "close", "reopen", "ensure_closed"]
ACTIVE = ("open", "acknowledged", "mitigated")
KINDS = ("invariant", "budget", "planner", "gate")

_COMMENTED = (
    inc.IncidentAcknowledged,
    inc.IncidentMitigated,
    inc.IncidentEscalated,
    inc.SeverityChanged,
    act.ActionSucceeded,
    act.ActionFailed,
)


@dataclass(frozen=True, slots=True)
class Op:
    """One ticket operation to perform, in order, for one incident."""

    kind: OpKind
    payload: dict[str, Any] = field(default_factory=dict)


def marker(incident_id: int) -> str:
    return f"interventions:incident:{incident_id}"


def incident_of(event: Event) -> dict[str, Any]:
    """The incident JSON after the event; rebuilt from IncidentOpened when absent."""
    snapshot = getattr(event, "incident", None)
    if snapshot:
        return dict(snapshot)
    if isinstance(event, inc.IncidentOpened):
        data = event.model_dump(mode="json", exclude={"incident"})
        return {**data, "id": event.incident_id, "status": "open", "created_at": data["at"]}
    return {"id": getattr(event, "incident_id", None)}


def decide(event: Event, *, tracked: bool, severities: Collection[str]) -> list[Op]:
    """Ticket operations for one event, given whether the incident already has a ticket."""
    if not tracked:
        return _maybe_open(event, severities)
    if isinstance(event, _COMMENTED):
        return [comment(event)]
    if isinstance(event, inc.IncidentResolved):
        reason = "completed" if event.resolution == "fixed" else "not_planned"
        return [comment(event), Op("close", {"reason": reason})]
    if isinstance(event, inc.IncidentReopened):
        return [Op("reopen"), comment(event)]
    if isinstance(event, inc.IncidentClosed):
        return [Op("ensure_closed", {"reason": "completed"})]
    return []


def _maybe_open(event: Event, severities: Collection[str]) -> list[Op]:
    """A ticket opens with the incident, or later when its severity rises into scope."""
    snapshot = incident_of(event)
    if isinstance(event, inc.IncidentOpened) and event.severity in severities:
        return [open_ticket(snapshot)]
    if (
        isinstance(event, inc.SeverityChanged)
        and event.to_severity in severities
        and snapshot.get("status", "open") in ACTIVE
        and snapshot.get("kind")
    ):
        return [open_ticket({**snapshot, "severity": event.to_severity})]
    return []


def open_ticket(incident: dict[str, Any]) -> Op:
    kind = str(incident.get("kind") or "generic")
    team = str(incident.get("owner_team") or "unassigned")
    labels = [f"severity:{incident.get('severity')}", f"kind:{kind}", f"team:{team}"]
    return Op(
        "open", {"incident": incident, "labels": labels, "marker": marker(int(incident["id"]))}
    )


def comment(event: Event) -> Op:
    return Op(
        "comment",
        {
            "event_type": event.type_name,
            "event": event.model_dump(mode="json", exclude={"incident"}),
        },
    )


def template_for(kind: str, details: dict[str, Any]) -> str:
    """The ticket template for an incident kind (budget breaches from gates use `gate`)."""
    if kind == "budget" and details.get("source") == "gate" and details.get("gate"):
        return "gate"
    return kind if kind in KINDS else "generic"
