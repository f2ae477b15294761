"""Per-key decisions: dedup into the active incident, rate limit, open; each names its rule."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from incidents.decisions import (
    RULE_DEDUP,
    RULE_OPEN,
    RULE_RATE_LIMIT,
    Decided,
    Detection,
    KeyState,
    Limits,
    decide_detection,
    evolve_key,
    needs_new_id,
)
from incidents.domain import Incident
from interventions_events.incidents import DetectionDecided

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
LIMITS = Limits(window=timedelta(hours=1), max_per_window=3)


def det(n: int = 1, recovered: bool = False) -> Detection:
    return Detection(
        f"d{n}", "BudgetExceeded", "budget", "K", "inbox.triage", "error", T0, recovered=recovered
    )


def incident(status: str = "open") -> Incident:
    return Incident(
        id=5,
        kind="budget",
        key="K",
        subject="a",
        severity="sev2",
        status=status,
        summary="s",
        details={},
        playbooks=(),
        owner_team="t",  # type: ignore[arg-type]
        created_at=T0,
        last_seen_at=T0,
        occurrences=4,
    )


def test_no_active_incident_opens_one_naming_the_rule() -> None:
    d = decide_detection(KeyState("K"), None, det(), T0, LIMITS, new_id=9)
    assert (d.decision, d.rule, d.incident_id, d.opened_in_window) == ("opened", RULE_OPEN, 9, 1)


def test_active_incident_deduplicates_into_it() -> None:
    for status in ("open", "acknowledged", "mitigated"):
        active = incident(status)
        assert not needs_new_id(KeyState("K"), active, det(), T0, LIMITS)
        d = decide_detection(KeyState("K"), active, det(), T0, LIMITS)
        assert (d.decision, d.rule, d.incident_id) == ("deduplicated", RULE_DEDUP, 5)
        assert "occurrence 5" in d.reason


def test_resolved_incident_does_not_absorb_new_detections() -> None:
    assert needs_new_id(KeyState("K"), incident("resolved"), det(), T0, LIMITS)


def test_fourth_open_in_the_window_is_suppressed_with_the_window() -> None:
    key = KeyState("K")
    for i in range(3):
        at = T0 + timedelta(minutes=10 * i)
        key = evolve_key(key, decide_detection(key, None, det(i), at, LIMITS, new_id=i + 1))
    now = T0 + timedelta(minutes=40)
    assert not needs_new_id(key, None, det(4), now, LIMITS)
    d = decide_detection(key, None, det(4), now, LIMITS)
    assert (d.decision, d.rule, d.opened_in_window, d.limit) == (
        "suppressed",
        RULE_RATE_LIMIT,
        3,
        3,
    )
    assert d.window_started_at == now - timedelta(hours=1)
    assert key.version == 3


def test_window_slides_so_old_opens_stop_counting() -> None:
    key = KeyState("K", version=3, opened=((1, T0), (2, T0), (3, T0 + timedelta(minutes=30))))
    assert not needs_new_id(key, None, det(), T0 + timedelta(minutes=59), LIMITS)
    assert needs_new_id(key, None, det(), T0 + timedelta(minutes=61), LIMITS)


def test_recovery_is_noted_on_the_active_incident_only() -> None:
    d = decide_detection(KeyState("K"), incident(), det(recovered=True), T0, LIMITS)
    assert (d.decision, d.incident_id) == ("recovered", 5)
    idle = decide_detection(KeyState("K"), None, det(recovered=True), T0, LIMITS)
    assert (idle.decision, idle.incident_id) == ("ignored", None)


def test_only_opened_decisions_count_toward_the_limit() -> None:
    key = KeyState("K")
    d = decide_detection(key, incident(), det(), T0, LIMITS)
    assert evolve_key(key, d) == key._replace(version=1)


def test_every_decision_records_the_detections_kind_evidence_hint_and_subject() -> None:
    evidence = {"actual": 9.1, "threshold": 5}
    d = det()._replace(evidence=evidence)
    full = KeyState("K", 3, tuple((i, T0) for i in range(3)))
    for decided in (
        decide_detection(KeyState("K"), None, d, T0, LIMITS, new_id=9),  # opened
        decide_detection(KeyState("K"), incident(), d, T0, LIMITS),  # deduplicated
        decide_detection(full, None, d, T0, LIMITS),  # suppressed
    ):
        assert (decided.kind, decided.evidence) == ("budget", evidence), decided.decision
        assert (decided.hint, decided.subject) == ("error", "inbox.triage")


def test_a_decision_stored_before_kind_and_evidence_existed_still_parses() -> None:
    old = stored(decide_detection(KeyState("K"), None, det(), T0, LIMITS, new_id=9))
    del old["kind"], old["evidence"]
    parsed = DetectionDecided.model_validate(old)
    assert (parsed.kind, parsed.evidence, parsed.decision) == (None, None, "opened")


def stored(d: Decided) -> Any:
    """The decision as writer.py stores it."""
    return orjson.loads(orjson.dumps(d.__dict__))


def test_a_decision_has_the_stored_events_fields_and_reads_back_as_that_event() -> None:
    assert [f.name for f in fields(Decided)] == list(DetectionDecided.model_fields)
    assert (Decided.type_name, Decided.schema_version) == ("DetectionDecided", 1)
    evidence = {"actual": 9.1, "nested": {"v": [1, None]}}
    d = det()._replace(evidence=evidence, hint=None)
    full = KeyState("K", 3, tuple((i, T0) for i in range(3)))
    for decided in (
        decide_detection(KeyState("K"), None, d, T0, LIMITS, new_id=9),  # opened
        decide_detection(KeyState("K"), incident(), d, T0, LIMITS),  # deduplicated
        decide_detection(full, None, d, T0, LIMITS),  # suppressed
        decide_detection(KeyState("K"), incident(), det(recovered=True), T0, LIMITS),
        decide_detection(KeyState("K"), None, det(recovered=True), T0, LIMITS),  # ignored
    ):
        event = DetectionDecided.model_validate(stored(decided))
        assert event.model_dump() == decided.__dict__, decided.decision
