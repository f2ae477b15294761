"""Sync rules: given an incident event and whether a ticket exists, which ops follow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from interventions_events import Event
from interventions_events import actions as act
from interventions_events import incidents as inc
from issue_sync.domain import decide, template_for

AT = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
ALL = ("sev1", "sev2", "sev3", "sev4")


def snap(status: str = "open", severity: str = "sev2") -> dict[str, Any]:
    return {
        "id": 7,
        "kind": "budget",
        "key": "B",
        "severity": severity,
        "status": status,
        "summary": "P95 latency",
        "owner_team": "data-platform",
        "details": {},
    }


def opened(severity: str = "sev2") -> inc.IncidentOpened:
    return inc.IncidentOpened(
        incident_id=7,
        at=AT,
        incident=snap(severity=severity),
        kind="budget",
        key="B",
        severity=severity,  # type: ignore[arg-type]
        summary="P95 latency",
        owner_team="data-platform",
        detection_id="d",
        rule="r",
    )


def kinds(event: Event, tracked: bool = True, severities: tuple[str, ...] = ALL) -> list[str]:
    return [op.kind for op in decide(event, tracked=tracked, severities=severities)]


def test_opened_incident_opens_a_ticket_labelled_by_severity_kind_and_team() -> None:
    [op] = decide(opened(), tracked=False, severities=ALL)
    assert op.kind == "open"
    assert op.payload["labels"] == ["severity:sev2", "kind:budget", "team:data-platform"]
    assert op.payload["marker"] == "interventions:incident:7"


def test_severity_outside_the_configured_set_opens_nothing() -> None:
    assert kinds(opened("sev4"), tracked=False, severities=("sev1", "sev2")) == []


def test_severity_raised_into_scope_opens_the_ticket_late() -> None:
    raised = inc.SeverityChanged(
        incident_id=7,
        at=AT,
        incident=snap(severity="sev1"),
        from_severity="sev4",
        to_severity="sev1",
        reason="worse",
    )
    assert kinds(raised, tracked=False, severities=("sev1",)) == ["open"]


def test_lifecycle_steps_and_actions_become_comments() -> None:
    for event in (
        inc.IncidentAcknowledged(incident_id=7, at=AT),
        inc.IncidentMitigated(incident_id=7, at=AT),
        inc.IncidentEscalated(incident_id=7, at=AT, reason="slow"),
        act.ActionFailed(
            execution_id="e",
            incident_id=7,
            action_type="clear_cache",
            actor="ana",
            at=AT,
            error="boom",
        ),
    ):
        assert kinds(event) == ["comment"]


def test_resolution_comments_then_closes_not_planned_for_false_positives() -> None:
    fixed = decide(inc.IncidentResolved(incident_id=7, at=AT), tracked=True, severities=ALL)
    fp = decide(
        inc.IncidentResolved(incident_id=7, at=AT, resolution="false_positive"),
        tracked=True,
        severities=ALL,
    )
    assert [(o.kind, o.payload.get("reason")) for o in fixed] == [
        ("comment", None),
        ("close", "completed"),
    ]
    assert fp[1].payload["reason"] == "not_planned"


def test_reopen_reopens_then_comments_and_close_ensures_closed() -> None:
    assert kinds(inc.IncidentReopened(incident_id=7, at=AT)) == ["reopen", "comment"]
    assert kinds(inc.IncidentClosed(incident_id=7, at=AT)) == ["ensure_closed"]


def test_events_for_untracked_incidents_and_notes_do_nothing() -> None:
    assert kinds(inc.IncidentAcknowledged(incident_id=7, at=AT), tracked=False) == []
    assert kinds(inc.NoteAdded(incident_id=7, at=AT, text="x")) == []


def test_gate_breaches_use_the_gate_template_and_unknown_kinds_the_generic_one() -> None:
    assert template_for("budget", {"source": "gate", "gate": "nightly"}) == "gate"
    assert template_for("budget", {"source": "watcher"}) == "budget"
    assert template_for("mystery", {}) == "generic"
