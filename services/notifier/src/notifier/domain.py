"""What to tell whom, and when: pure decisions from incident events and fired timers.

No I/O and no clock: `now` is a parameter. The service layer stores the results (tracked
incident, deliveries, timers, SSE frames, notification events) in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from interventions_events import Event
from interventions_events import incidents as ev
from interventions_events.notifications import EscalationTriggered, SlaBreached

from .settings import Settings

ACTIVE = ("open", "acknowledged", "mitigated")
SLA_TARGETS = ("acknowledge", "mitigate", "resolve")


@dataclass(frozen=True, slots=True)
class Tracked:
    """The notifier's own view of one incident."""

    incident_id: int
    cycle: int  # bumped on reopen: a new trigger/ack/resolve round
    severity: str
    team: str
    kind: str
    status: str
    snapshot: dict[str, Any]
    policy: list[dict[str, Any]]  # escalation levels, snapshotted at open
    told: frozenset[str] = frozenset()  # sinks that got this cycle's trigger


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one sink; idempotency_key = (incident, cycle, transition, sink)."""

    incident_id: int
    sink: str  # pagerduty | pagerduty:<level> | slack
    transition: str  # trigger | acknowledge | resolve | update
    idempotency_key: str
    headline: str
    snapshot: dict[str, Any]
    delay_s: float = 0.0
    coalesce: bool = False


@dataclass(frozen=True, slots=True)
class Timer:
    kind: str  # escalation | sla
    name: str  # level index as text, or the SLA target
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimerRow:
    incident_id: int
    cycle: int
    kind: str
    name: str
    due_at: datetime
    payload: dict[str, Any]


@dataclass
class Effects:
    tracked: Tracked | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    sse: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    schedule: list[Timer] = field(default_factory=list)
    cancel: set[str] = field(default_factory=set)  # timer names ("*" = all escalation)
    expedite_escalation: bool = False
    events: list[Event] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


def route(settings: Settings, severity: str, team: str, kind: str) -> tuple[str, ...]:
    """Sinks for an incident: first matching override, else the per-severity default."""
    for rule in settings.notifier.routes.overrides:
        if (
            rule.team in (None, team)
            and rule.kind in (None, kind)
            and rule.severity in (None, severity)
        ):
            return tuple(rule.sinks)
    return tuple(settings.notifier.routes.default.get(severity, ()))


def key(incident_id: int, cycle: int, transition: str, sink: str) -> str:
    return f"incident-{incident_id}/c{cycle}/{transition}/{sink}"


def on_incident_event(
    tracked: Tracked | None, event: ev.IncidentEvent, settings: Settings, now: datetime
) -> Effects:
    """Decide the notifications one incident event causes."""
    snapshot = _snapshot(tracked, event)
    out = Effects()
    out.sse.append(
        (
            "incident_created" if isinstance(event, ev.IncidentOpened) else "incident_updated",
            _sse_data(event, snapshot),
        )
    )
    if isinstance(event, ev.IncidentOpened | ev.IncidentReopened) and (
        tracked is None or tracked.status not in ACTIVE
    ):
        return _open(tracked, event, snapshot, settings, out)
    current = tracked or _adopt(event, snapshot, settings)
    current = replace(
        current, snapshot=snapshot, status=str(snapshot.get("status", current.status))
    )
    out.tracked = current
    _follow(current, event, settings, out)
    return out


def _snapshot(tracked: Tracked | None, event: ev.IncidentEvent) -> dict[str, Any]:
    if event.incident is not None:
        return dict(event.incident)
    base = dict(tracked.snapshot) if tracked else {"id": event.incident_id}
    status = _STATUS_AFTER.get(type(event))
    if status is not None:
        base["status"] = status
    if isinstance(event, ev.IncidentOpened):
        base.update(
            id=event.incident_id,
            kind=event.kind,
            key=event.key,
            status="open",
            severity=event.severity,
            summary=event.summary,
            details=event.details,
            owner_team=event.owner_team,
            created_at=event.at.isoformat(),
        )
    return base


_STATUS_AFTER: dict[type[Event], str] = {
    ev.IncidentOpened: "open",
    ev.IncidentReopened: "open",
    ev.IncidentAcknowledged: "acknowledged",
    ev.IncidentMitigated: "mitigated",
    ev.IncidentResolved: "resolved",
    ev.IncidentClosed: "closed",
}


def action_frame(event: Event) -> tuple[str, dict[str, Any]]:
    """Every playbook action event goes to the console as `action_executed`."""
    return "action_executed", {"type": event.type_name, **event.model_dump(mode="json")}


def _sse_data(event: ev.IncidentEvent, snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": event.type_name,
        "incident_id": event.incident_id,
        "at": event.at.isoformat(),
        "by": event.by,
        "incident": snapshot,
    }


def _adopt(event: ev.IncidentEvent, snapshot: dict[str, Any], settings: Settings) -> Tracked:
    """An incident first seen after its opening (e.g. the notifier was deployed later)."""
    team = str(snapshot.get("owner_team") or "unowned")
    return Tracked(
        event.incident_id,
        1,
        str(snapshot.get("severity", "sev4")),
        team,
        str(snapshot.get("kind", "")),
        str(snapshot.get("status", "open")),
        snapshot,
        settings.escalation.policy_for(team),
    )


def _open(
    tracked: Tracked | None,
    event: ev.IncidentEvent,
    snapshot: dict[str, Any],
    settings: Settings,
    out: Effects,
) -> Effects:
    team = str(snapshot.get("owner_team") or "unowned")
    cycle = tracked.cycle + 1 if tracked else 1
    new = Tracked(
        event.incident_id,
        cycle,
        str(snapshot.get("severity", "sev4")),
        team,
        str(snapshot.get("kind", "")),
        "open",
        snapshot,
        settings.escalation.policy_for(team),
    )
    out.tracked = _trigger(new, settings, out, "Opened" if cycle == 1 else "Reopened")
    if new.severity in settings.escalation.severities:
        out.schedule.extend(_escalation_timer(new.policy, 1, event.at))
    out.schedule.extend(_sla_timers(new.severity, event.at, settings))
    return out


def _trigger(tracked: Tracked, settings: Settings, out: Effects, headline: str) -> Tracked:
    """Trigger every routed, enabled sink not yet told this cycle."""
    routed = route(settings, tracked.severity, tracked.team, tracked.kind)
    enabled = settings.enabled_sinks()
    sinks = [s for s in routed if s in enabled and s not in tracked.told]
    if not routed:
        out.logs.append(f"incident {tracked.incident_id} ({tracked.severity}): logged only")
    for sink in sinks:
        out.deliveries.append(
            Delivery(
                tracked.incident_id,
                sink,
                "trigger",
                key(tracked.incident_id, tracked.cycle, "trigger", sink),
                headline,
                tracked.snapshot,
            )
        )
    return replace(tracked, told=tracked.told | set(sinks))


def _escalation_timer(policy: list[dict[str, Any]], level: int, base: datetime) -> list[Timer]:
    if level >= len(policy):
        return []
    wait = timedelta(seconds=float(policy[level]["wait_s"]))
    return [Timer("escalation", str(level), base + wait, {"level": policy[level]["name"]})]


def _sla_timers(severity: str, opened_at: datetime, settings: Settings) -> list[Timer]:
    targets = settings.notifier.sla.get(severity)
    if targets is None:
        return []
    timers = []
    for name in SLA_TARGETS:
        limit: timedelta | None = getattr(targets, name)
        if limit is not None:
            timers.append(Timer("sla", name, opened_at + limit, {"severity": severity}))
    return timers


def _follow(t: Tracked, event: ev.IncidentEvent, settings: Settings, out: Effects) -> None:
    """Later lifecycle events: pager state, chat updates, timer cancellation."""
    if isinstance(event, ev.IncidentAcknowledged):
        out.cancel |= {"*", "acknowledge"}
        _pager(t, "acknowledge", out)
        _update(t, f"Acknowledged by {event.by}", out, settings)
    elif isinstance(event, ev.IncidentMitigated):
        out.cancel |= {"*", "acknowledge", "mitigate"}
        _pager(t, "acknowledge", out)
        _update(t, f"Mitigated by {event.by}", out, settings)
    elif isinstance(event, ev.IncidentResolved | ev.IncidentClosed):
        out.cancel |= {"*", *SLA_TARGETS}
        _pager(t, "resolve", out)
        verb = "Resolved" if isinstance(event, ev.IncidentResolved) else "Closed"
        _update(t, f"{verb} by {event.by}", out, settings)
    elif isinstance(event, ev.SeverityChanged):
        t = replace(t, severity=event.to_severity)
        out.tracked = _trigger(t, settings, out, f"Severity raised to {event.to_severity}")
        _update(t, f"Severity {event.from_severity} -> {event.to_severity}", out, settings)
    elif isinstance(event, ev.IncidentEscalated):
        out.expedite_escalation = True
        _update(t, f"Escalated by {event.by}: {event.reason}", out, settings)


def _pager(t: Tracked, transition: str, out: Effects) -> None:
    """Tell every PagerDuty sink that got the trigger (never one that did not)."""
    for sink in sorted(s for s in t.told if s.startswith("pagerduty")):
        out.deliveries.append(
            Delivery(
                t.incident_id,
                sink,
                transition,
                key(t.incident_id, t.cycle, transition, sink),
                transition,
                t.snapshot,
            )
        )


def _update(t: Tracked, headline: str, out: Effects, settings: Settings) -> None:
    """A chat update, coalesced with others for the same incident inside the window."""
    if "slack" not in t.told:
        return
    version = t.snapshot.get("version", headline)
    out.deliveries.append(
        Delivery(
            t.incident_id,
            "slack",
            "update",
            key(t.incident_id, t.cycle, f"update-v{version}", "slack"),
            headline,
            t.snapshot,
            delay_s=settings.notifier.slack.coalesce_window.total_seconds(),
            coalesce=True,
        )
    )


def on_timer(
    timer: TimerRow, tracked: Tracked | None, settings: Settings, now: datetime
) -> Effects:
    """A due timer fired: escalate one level, or record an SLA breach."""
    out = Effects()
    if tracked is None or tracked.cycle != timer.cycle:
        return out
    out.tracked = tracked
    if timer.kind == "sla":
        out.events.append(
            SlaBreached(
                incident_id=tracked.incident_id,
                at=now,
                severity=str(timer.payload.get("severity", tracked.severity)),
                target=timer.name,
                due_at=timer.due_at,
            )
        )
        return out
    if tracked.status != "open":
        return out
    _escalate(tracked, int(timer.name), timer.due_at, settings, out, now)
    return out


def _escalate(
    t: Tracked, level: int, due_at: datetime, settings: Settings, out: Effects, now: datetime
) -> None:
    spec = t.policy[level]
    name = str(spec["name"])
    wait = timedelta(seconds=float(spec["wait_s"]))
    out.events.append(
        EscalationTriggered(
            incident_id=t.incident_id,
            at=now,
            level=name,
            targets=tuple(spec["targets"]),
            reason=f"no acknowledgement within {_human(wait)}",
        )
    )
    headline = f"Escalated to {name}: {', '.join(spec['targets']) or 'no targets'}"
    if spec.get("paged") and "pagerduty" in settings.enabled_sinks():
        sink = f"pagerduty:{name}"
        out.deliveries.append(
            Delivery(
                t.incident_id,
                sink,
                "trigger",
                key(t.incident_id, t.cycle, "trigger", sink),
                headline,
                t.snapshot,
            )
        )
        out.tracked = replace(t, told=t.told | {sink})
    if "slack" in t.told:
        out.deliveries.append(
            Delivery(
                t.incident_id,
                "slack",
                "update",
                key(t.incident_id, t.cycle, f"escalate-{name}", "slack"),
                headline,
                t.snapshot,
            )
        )
    out.schedule.extend(_escalation_timer(t.policy, level + 1, due_at))


def _human(td: timedelta) -> str:
    secs = int(td.total_seconds())
    return f"{secs // 60}m" if secs >= 60 and secs % 60 == 0 else f"{secs}s"
