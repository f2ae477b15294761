"""The replay fold equals the domain fold: `evolve` over `parse_event` for incident streams,
`evolve_key` over `DetectionDecided` for key streams, on randomized histories made by the real
deciders and stored the way the writer stores them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incidents import commands as c
from incidents.decisions import (
    KEEP_OPENED,
    Detection,
    KeyState,
    Limits,
    decide_detection,
    evolve_key,
    needs_new_id,
)
from incidents.domain import EVENT_TYPES, DomainError, Incident, NotFound, decide, evolve
from incidents.domain import parse_event as parse
from incidents.replayfold import APPLY, ReplayFold
from interventions_events.incidents import DetectionDecided, IncidentEvent

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)))
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
PEOPLE = ("ann", "bob", "system")


@dataclass
class History:
    """Events in global order as stored rows, and the domain fold of each stream."""

    rows: list[tuple[int, str, str, str]] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)

    def store(self, stream: str, event: IncidentEvent | DetectionDecided, minimal: bool) -> None:
        # what writer.py stores; `minimal` leaves out every field at its default
        data = event.model_dump(mode="json", exclude={"incident"}, exclude_defaults=minimal)
        text = orjson.dumps(data).decode()
        self.rows.append((len(self.rows) + 1, stream, type(event).__name__, text))
        # the reference: decode the stored text the old way, then the domain fold
        stored = orjson.loads(text)
        if isinstance(event, DetectionDecided):
            decided = DetectionDecided.model_validate(stored)
            state = self.keys.get(stream) or KeyState(decided.key)
            self.keys[stream] = evolve_key(state, decided)
        else:
            self.incidents[stream] = evolve(
                self.incidents.get(stream), parse(type(event).__name__, stored)
            )


def command(kind: str, incident_id: int, draw: Any, now: datetime) -> c.Command:
    by = draw(st.sampled_from(PEOPLE))
    notes = draw(st.none() | st.text(max_size=5))
    match kind:
        case "ack":
            return c.Acknowledge(incident_id, by, notes)
        case "mitigate":
            return c.Mitigate(incident_id, by, notes)
        case "resolve":
            res = draw(st.sampled_from(("fixed", "false_positive", "duplicate", "wont_fix")))
            return c.Resolve(incident_id, by, notes, res)
        case "close":
            return c.Close(incident_id, by, notes)
        case "reopen":
            return c.Reopen(incident_id, by, notes)
        case "severity":
            return c.ChangeSeverity(incident_id, by, draw(st.sampled_from(SEVERITIES)), "r")
        case "escalate":
            return c.Escalate(incident_id, by, "no ack")
        case "note":
            return c.AddNote(incident_id, by, draw(st.text(max_size=8)))
        case "occurrence":
            observed = now - timedelta(seconds=draw(st.integers(0, 600)))
            count = draw(st.integers(1, 5))  # a batch's occurrences are one event
            return c.RecordOccurrence(incident_id, "d", observed, "dedup", {"n": 1}, count=count)
        case "recovery":
            return c.ObserveRecovery(incident_id, "d")
        case "action":
            return c.RecordAction(incident_id, "x1", "rerun_eval", "started", by, None)
        case "issue":
            url = draw(st.sampled_from(("https://i/1", "https://i/2")))
            return c.LinkIssue(incident_id, "github", url)
        case _:
            return c.RecordNotification(incident_id, "page", draw(st.none() | st.just("slack")))


LIFECYCLE = ["ack", "mitigate", "resolve", "close", "reopen", "severity", "escalate", "note"]
KINDS = [*LIFECYCLE, "occurrence", "recovery", "action", "issue", "notify"]


@st.composite
def histories(draw: Any) -> History:
    """A few incidents driven by random commands through `decide`, and a few keys deciding
    random detections through `decide_detection`, interleaved, with clocks that go back and
    forth across time zones (so `max(last_seen_at, at)` and ties matter)."""
    minimal = draw(st.booleans())
    h = History()
    limits = Limits(timedelta(minutes=draw(st.integers(1, 90))), draw(st.integers(1, 3)))
    next_id = 1
    for _ in range(draw(st.integers(1, 40))):
        # whole minutes, so that equal instants written in different zones are common
        now = (T0 + timedelta(minutes=draw(st.integers(-5, 120)))).astimezone(
            draw(st.sampled_from(ZONES))
        )
        if draw(st.booleans()):  # a key decision
            key = draw(st.sampled_from(("K1", "K2", "K3")))
            stream = f"key-{key}"
            state = h.keys.get(stream) or KeyState(key)
            active = next(
                (i for i in reversed(h.incidents.values()) if i.key == key and i.active), None
            )
            det = Detection(
                f"d{len(h.rows)}",
                "BudgetExceeded",
                "budget",
                key,
                "s",
                None,
                now,
                recovered=draw(st.booleans()),
                evidence={"v": draw(st.integers(-(2**40), 2**40))},
            )
            new_id = None
            if needs_new_id(state, active, det, now, limits):
                new_id, next_id = next_id, next_id + 1
            decided = decide_detection(state, active, det, now, limits, new_id)
            h.store(stream, DetectionDecided(**decided.__dict__), minimal)
            if decided.decision == "opened":
                opened = c.OpenIncident(
                    next_id - 1,
                    "budget",
                    key,
                    draw(st.sampled_from(("", "inbox"))),
                    draw(st.sampled_from(SEVERITIES)),
                    "summary",
                    {"e": [1, {"x": None}]},
                    tuple(draw(st.lists(st.sampled_from(("a", "b")), max_size=2))),
                    "team",
                    det.detection_id,
                    "open",
                )
                for e in decide(opened, None, now):
                    h.store(f"incident-{e.incident_id}", e, minimal)
        elif h.incidents:
            stream = draw(st.sampled_from(sorted(h.incidents)))
            state_i = h.incidents[stream]
            cmd = command(draw(st.sampled_from(KINDS)), state_i.id, draw, now)
            try:
                events = decide(cmd, state_i, now)
            except (DomainError, NotFound):
                continue
            for e in events:
                h.store(stream, e, minimal)
    return h


def assert_same(h: History, fold: ReplayFold) -> None:
    incidents, keys = fold.incidents(), fold.keys()
    assert incidents == h.incidents
    assert keys == h.keys
    for sid, inc in incidents.items():
        ref = h.incidents[sid]
        # not in dataclass equality, but stored in the read model and hashed
        assert inc.last_transition == ref.last_transition
        assert orjson.dumps(inc.to_json()) == orjson.dumps(ref.to_json())
    for sid, k in keys.items():
        assert [at.isoformat() for _, at in k.opened] == [
            at.isoformat() for _, at in h.keys[sid].opened
        ]
    assert fold.events == len(h.rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_replay_fold_equals_the_domain_fold(h: History) -> None:
    fold = ReplayFold()
    fold.feed(h.rows)
    assert_same(h, fold)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(1, 7))
def test_pages_and_predecoded_data_change_nothing(h: History, page: int) -> None:
    fold = ReplayFold()
    for i in range(0, len(h.rows), page):
        chunk = [(p, s, t, orjson.loads(d)) for p, s, t, d in h.rows[i : i + page]]
        fold.feed(chunk, decode=dict)
    assert_same(h, fold)


def test_every_incident_event_type_has_a_step() -> None:
    assert {*APPLY, "IncidentOpened"} == set(EVENT_TYPES)


def test_a_long_key_stream_keeps_the_last_opened_like_evolve_key() -> None:
    h = History()
    for n in range(3 * KEEP_OPENED + 57):  # trimmed on the way (more than 2 * KEEP_OPENED)
        at = T0 + timedelta(seconds=n)
        decision = "opened" if n % 5 else "deduplicated"
        h.store(
            "key-K",
            DetectionDecided(
                key="K",
                detection_id=f"d{n}",
                detection_type="X",
                decision=decision,
                rule="r",
                reason="r",
                incident_id=n,
                observed_at=at,
                at=at,
            ),
            minimal=False,
        )
    fold = ReplayFold()
    fold.feed(h.rows)
    assert len(fold.keys()["key-K"].opened) == KEEP_OPENED
    assert_same(h, fold)


def test_stored_forms_pydantic_accepts_beyond_iso_text_decode_the_same() -> None:
    # pydantic also takes unix times; trusted stored data never has them, but equal anyway
    data = {
        "key": "K",
        "detection_id": "d",
        "detection_type": "X",
        "decision": "opened",
        "rule": "r",
        "reason": "r",
        "incident_id": 3,
        "observed_at": 0,
        "at": 1_764_190_800,
    }
    fold = ReplayFold()
    fold.feed([(1, "key-K", "DetectionDecided", orjson.dumps(data))])
    ref = evolve_key(KeyState("K"), DetectionDecided.model_validate(data))
    assert fold.keys() == {"key-K": ref}


def test_refuses_what_the_domain_fold_refuses() -> None:
    note = orjson.dumps({"incident_id": 1, "at": T0.isoformat(), "text": "x"})
    with pytest.raises(ValueError, match="before IncidentOpened"):
        ReplayFold().feed([(1, "incident-1", "NoteAdded", note)])
    with pytest.raises(ValueError, match="before IncidentOpened"):
        evolve(None, parse("NoteAdded", orjson.loads(note)))
    with pytest.raises(KeyError):
        ReplayFold().feed([(1, "incident-1", "DetectionSuppressed", note)])
    with pytest.raises(KeyError):
        parse("DetectionSuppressed", orjson.loads(note))
