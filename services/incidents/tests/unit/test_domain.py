"""The incident decider: given events / when command / then events, for every transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from incidents import commands as c
from incidents.domain import DomainError, Incident, NotFound, decide, fold, restore
from interventions_events.incidents import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentEvent,
    IncidentMitigated,
    IncidentOpened,
    IncidentReopened,
    IncidentResolved,
    IssueLinkRecorded,
    NoteAdded,
    OccurrenceRecorded,
    SeverityChanged,
)

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)


def opened() -> IncidentOpened:
    return IncidentOpened(
        incident_id=7,
        at=T0,
        kind="invariant",
        key="INV_x",
        subject="inbox.triage",
        severity="sev1",
        summary="X violation for inbox.triage",
        owner_team="data-platform",
        playbooks=("rerun_eval",),
        detection_id="d1",
        rule="open.no_active_incident",
    )


def given(*names: str) -> list[IncidentEvent]:
    """A history that walks the lifecycle through the named transitions."""
    base = {"incident_id": 7, "at": T0, "by": "ann"}
    make = {
        "ack": lambda: IncidentAcknowledged(**base),
        "mitigate": lambda: IncidentMitigated(**base),
        "resolve": lambda: IncidentResolved(**base),
        "close": lambda: IncidentClosed(**base),
        "reopen": lambda: IncidentReopened(**base),
    }
    return [opened(), *(make[n]() for n in names)]


def state(*names: str) -> Incident:
    s = fold(given(*names))
    assert s is not None
    return s


def types(events: list[IncidentEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


ALLOWED = [
    ((), c.Acknowledge(7, "bob"), "IncidentAcknowledged", "acknowledged"),
    ((), c.Mitigate(7, "bob"), "IncidentMitigated", "mitigated"),
    (("ack",), c.Mitigate(7, "bob"), "IncidentMitigated", "mitigated"),
    ((), c.Resolve(7, "bob"), "IncidentResolved", "resolved"),
    (("ack",), c.Resolve(7, "bob"), "IncidentResolved", "resolved"),
    (("ack", "mitigate"), c.Resolve(7, "bob"), "IncidentResolved", "resolved"),
    (("resolve",), c.Close(7, "bob"), "IncidentClosed", "closed"),
    (("resolve",), c.Reopen(7, "bob"), "IncidentReopened", "open"),
    (("resolve", "reopen"), c.Acknowledge(7, "bob"), "IncidentAcknowledged", "acknowledged"),
]


@pytest.mark.parametrize(("history", "command", "event", "status"), ALLOWED)
def test_allowed_transition_emits_its_event_and_moves_status(
    history: tuple[str, ...], command: c.Command, event: str, status: str
) -> None:
    events = decide(command, state(*history), NOW)
    assert types(events) == [event]
    after = fold([*given(*history), *events])
    assert after is not None and after.status == status
    assert after.version == len(history) + 2


REFUSED = [
    (("ack",), c.Acknowledge(7, "bob"), "acknowledge"),
    (("mitigate",), c.Acknowledge(7, "bob"), "acknowledge"),
    (("resolve",), c.Acknowledge(7, "bob"), "acknowledge"),
    (("resolve",), c.Mitigate(7, "bob"), "mitigate"),
    (("resolve", "close"), c.Resolve(7, "bob", resolution="fixed"), "resolve"),
    ((), c.Close(7, "bob"), "close"),
    (("ack",), c.Close(7, "bob"), "close"),
    (("mitigate",), c.Close(7, "bob"), "close"),
    ((), c.Reopen(7, "bob"), "reopen"),
    (("ack",), c.Reopen(7, "bob"), "reopen"),
    (("resolve", "close"), c.Reopen(7, "bob"), "reopen"),
    (("resolve", "close"), c.Mitigate(7, "bob"), "mitigate"),
    (("resolve",), c.ChangeSeverity(7, "bob", "sev2", "calmer"), "severity"),
    (("resolve", "close"), c.Escalate(7, "bob", "help"), "escalate"),
]


@pytest.mark.parametrize(("history", "command", "verb"), REFUSED)
def test_forbidden_transition_is_refused_naming_what_is_allowed(
    history: tuple[str, ...], command: c.Command, verb: str
) -> None:
    s = state(*history)
    with pytest.raises(DomainError) as err:
        decide(command, s, NOW)
    message = str(err.value)
    assert f"cannot {verb}" in message and f"it is {s.status}" in message
    assert "allowed from" in message and "notes" in message


def test_refusal_from_resolved_lists_close_and_reopen() -> None:
    with pytest.raises(DomainError, match="allowed from resolved: close, reopen, notes"):
        decide(c.Acknowledge(7, "bob"), state("resolve"), NOW)


def test_acknowledging_again_by_the_same_person_changes_nothing() -> None:
    s = fold([*given(), *decide(c.Acknowledge(7, "ann"), state(), NOW)])
    assert s is not None
    assert decide(c.Acknowledge(7, "ann"), s, NOW) == []


def test_acknowledging_again_by_someone_else_is_refused() -> None:
    s = fold([*given(), *decide(c.Acknowledge(7, "ann"), state(), NOW)])
    assert s is not None
    with pytest.raises(DomainError):
        decide(c.Acknowledge(7, "bob"), s, NOW)


@pytest.mark.parametrize(
    ("history", "command"),
    [
        (("mitigate",), c.Mitigate(7, "bob")),
        (("resolve",), c.Resolve(7, "bob", resolution="fixed")),
        (("resolve", "close"), c.Close(7, "bob")),
        (("resolve", "reopen"), c.Reopen(7, "bob")),
    ],
)
def test_repeated_command_is_a_no_op(history: tuple[str, ...], command: c.Command) -> None:
    assert decide(command, state(*history), NOW) == []


def test_resolving_with_another_resolution_is_refused() -> None:
    with pytest.raises(DomainError):
        decide(c.Resolve(7, "bob", resolution="false_positive"), state("resolve"), NOW)


def test_acknowledge_records_who_and_when() -> None:
    s = fold([*given(), *decide(c.Acknowledge(7, "bob", notes="on it"), state(), NOW)])
    assert s is not None
    assert (s.acknowledged_by, s.acknowledged_at) == ("bob", NOW)


def test_resolve_records_resolution_and_reopen_clears_it() -> None:
    hist = [*given(), *decide(c.Resolve(7, "bob", resolution="false_positive"), state(), NOW)]
    s = fold(hist)
    assert s is not None and (s.resolution, s.resolved_at) == ("false_positive", NOW)
    reopened = fold([*hist, *decide(c.Reopen(7, "bob"), s, NOW)])
    assert reopened is not None
    assert (reopened.status, reopened.resolution, reopened.resolved_at) == ("open", None, None)


def test_occurrence_counts_and_moves_last_seen() -> None:
    later = NOW + timedelta(minutes=1)
    events = decide(c.RecordOccurrence(7, "d2", later, "dedup.active_incident"), state(), later)
    assert isinstance(events[0], OccurrenceRecorded)
    s = fold([*given(), *events])
    assert s is not None and (s.occurrences, s.last_seen_at) == (2, later)


def test_occurrence_on_resolved_incident_is_refused() -> None:
    with pytest.raises(DomainError):
        decide(c.RecordOccurrence(7, "d2", NOW, "dedup"), state("resolve"), NOW)


def test_severity_change_records_from_and_to() -> None:
    events = decide(c.ChangeSeverity(7, "bob", "sev2", "contained"), state("ack"), NOW)
    assert isinstance(events[0], SeverityChanged)
    assert (events[0].from_severity, events[0].to_severity) == ("sev1", "sev2")
    assert decide(c.ChangeSeverity(7, "bob", "sev1", "same"), state(), NOW) == []


def test_escalate_and_notes_are_always_recorded() -> None:
    assert types(decide(c.Escalate(7, "bob", "slow"), state("ack"), NOW)) == ["IncidentEscalated"]
    note = decide(c.AddNote(7, "bob", "post-mortem draft"), state("resolve", "close"), NOW)
    assert isinstance(note[0], NoteAdded) and note[0].by == "bob"


def test_issue_link_sets_issue_url_once() -> None:
    events = decide(c.LinkIssue(7, "github", "https://gh/1"), state(), NOW)
    assert isinstance(events[0], IssueLinkRecorded)
    s = fold([*given(), *events])
    assert s is not None and s.issue_url == "https://gh/1"
    assert decide(c.LinkIssue(7, "github", "https://gh/1"), s, NOW) == []


def test_open_is_a_no_op_when_the_incident_exists() -> None:
    cmd = c.OpenIncident(7, "invariant", "INV_x", "a", "sev1", "s", {}, (), "t", "d1", "r")
    assert types(decide(cmd, None, NOW)) == ["IncidentOpened"]
    assert decide(cmd, state(), NOW) == []


def test_command_on_missing_incident_is_not_found() -> None:
    with pytest.raises(NotFound):
        decide(c.Acknowledge(99, "bob"), None, NOW)


def test_incident_json_has_every_pinned_field() -> None:
    pinned = {
        "id",
        "kind",
        "key",
        "severity",
        "status",
        "summary",
        "details",
        "playbooks",
        "owner_team",
        "issue_url",
        "occurrences",
        "created_at",
        "last_seen_at",
        "acknowledged_at",
        "acknowledged_by",
        "mitigated_at",
        "resolved_at",
        "resolution",
        "closed_at",
        "version",
    }
    assert pinned <= set(state().to_json())


def test_restore_rebuilds_an_equal_incident_from_all_its_fields_and_refuses_fewer() -> None:
    s = state("ack")
    values = dict(vars(s))
    again = restore(values)
    assert again == s and again.last_transition == s.last_transition
    values["occurrences"] = 9  # a copy: the restored incident does not follow the dict
    assert again.occurrences == s.occurrences
    del values["owner_team"]
    with pytest.raises(TypeError, match="fields"):
        restore(values)


def test_the_next_state_refuses_a_name_that_is_not_a_field() -> None:
    from incidents.domain import _next

    with pytest.raises(TypeError, match="ackowledged_at"):
        _next(state(), ackowledged_at=T0)
