"""Other services' events turned into timeline commands on the incident they name."""

from __future__ import annotations

import re

from interventions_events import Event
from interventions_events.actions import ActionEvent, ActionFailed
from interventions_events.issues import IssueLinked
from interventions_events.notifications import (
    EscalationTriggered,
    NotificationFailed,
    NotificationSent,
    SlaBreached,
)

from . import commands as c


def to_command(event: Event) -> c.Command | None:
    """The timeline command for an actions/issues/notifications event (None: not recorded)."""
    if isinstance(event, ActionEvent):
        return _action(event)
    if isinstance(event, IssueLinked):
        return c.LinkIssue(event.incident_id, event.provider, event.url)
    if isinstance(event, NotificationSent):
        target = f" to {event.target}" if event.target else ""
        return c.RecordNotification(
            event.incident_id, "sent", sink=event.sink, detail=f"{event.transition}{target}"
        )
    if isinstance(event, NotificationFailed):
        return c.RecordNotification(
            event.incident_id,
            "failed",
            sink=event.sink,
            detail=f"{event.transition}: {event.error}",
        )
    if isinstance(event, EscalationTriggered):
        return c.RecordNotification(
            event.incident_id, "escalated", level=event.level, detail=event.reason
        )
    if isinstance(event, SlaBreached):
        return c.RecordNotification(
            event.incident_id,
            "sla_breached",
            level=event.target,
            detail=f"{event.severity} due {event.due_at.isoformat()}",
        )
    return None


def _action(e: ActionEvent) -> c.RecordAction:
    step = _snake(e.type_name.removeprefix("Action"))
    detail = e.error if isinstance(e, ActionFailed) else e.reason
    return c.RecordAction(e.incident_id, e.execution_id, e.action_type, step, e.actor, detail)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
