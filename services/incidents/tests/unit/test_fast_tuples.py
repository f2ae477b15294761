"""The hot path builds its NamedTuples with `tuple.__new__` (a C call) instead of their
generated Python `__new__`: each must come out as the constructor would build it, every
field in place, so a field added later cannot be silently left out."""

from __future__ import annotations

from datetime import UTC, datetime

from incidents.decisions import Decided, Decision, Detection, KeyState, evolve_key
from incidents.service import _detection
from incidents.writer import Batch
from interventions_events.detections import InvariantViolated, SignalRecovered
from interventions_eventstore import NewEvent
from interventions_platform.kafka import Publisher

AT = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


def test_a_detection_is_the_tuple_its_constructor_builds() -> None:
    data = InvariantViolated(
        kind="invariant",
        key="INV_a",
        subject="inbox.triage",
        observed_at=AT,
        source_event_id="s-1",
        hint="high",
        evidence={"invariant": {"id": "a"}},
    )
    got = _detection("d-1", data)
    assert len(got) == len(Detection._fields)
    assert got == Detection(
        "d-1",
        "InvariantViolated",
        "invariant",
        "INV_a",
        "inbox.triage",
        "high",
        AT,
        recovered=False,
        evidence=data.evidence,
    )
    back = SignalRecovered(
        kind="invariant", key="INV_a", subject="inbox.triage", observed_at=AT, source_event_id="s"
    )
    assert _detection("d-2", back).recovered is True


def decided(decision: Decision) -> Decided:
    return Decided(
        key="INV_a",
        detection_id="d-1",
        detection_type="InvariantViolated",
        decision=decision,
        rule="r",
        reason="why",
        incident_id=7,
        observed_at=AT,
        at=AT,
    )


def test_a_key_state_after_a_decision_is_the_tuple_its_constructor_builds() -> None:
    got = evolve_key(KeyState("INV_a", 2), decided("opened"))
    assert len(got) == len(KeyState._fields)
    assert got == KeyState("INV_a", 3, ((7, AT),))


def test_a_stored_decision_is_the_new_event_its_constructor_builds() -> None:
    batch = Batch(Publisher(None, "interventions/incidents", "t."))  # type: ignore[arg-type]
    batch.decision(KeyState("INV_a", 1), decided("deduplicated"), "d-1", {"rule": "r"})
    (stream,) = batch.streams.values()
    (got,) = stream.events
    assert len(got) == len(NewEvent._fields)
    assert got == NewEvent("DetectionDecided", got.data, "d-1", 1, {"rule": "r"})
    assert got.recorded_at is None
