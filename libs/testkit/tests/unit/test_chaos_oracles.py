"""The chaos table's fault summary, and the relay oracle's logic on fakes: a relay that moved its cursor past an event it never
sent must fail it; a redelivered or not-yet-published event must not count as a skip."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from interventions_testkit import oracles
from interventions_testkit.chaos_runner import summary
from interventions_testkit.oracles import relay_gaps


def record(event_id: str) -> bytes:
    return orjson.dumps({"id": event_id, "type": "IncidentOpened", "data": {}})


@dataclass
class FakeRelay:
    """An outbox and a cursor like the real relay's; `skip` names rows it marks published
    without sending (the bug the oracle exists for)."""

    outbox: list[str] = field(default_factory=list)
    topic: list[bytes] = field(default_factory=list)
    skip: set[str] = field(default_factory=set)

    def commit(self, event_id: str) -> None:
        self.outbox.append(event_id)

    def publish_once(self, batch: int = 3) -> None:
        rows, self.outbox = self.outbox[:batch], self.outbox[batch:]
        self.topic.extend(record(e) for e in rows if e not in self.skip)


def committed(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_a_relay_that_skipped_an_event_fails_the_oracle() -> None:
    events = committed(10)
    relay = FakeRelay(skip={events[4]})
    for e in events:
        relay.commit(e)
    while relay.outbox:
        relay.publish_once()
    skipped, waiting = relay_gaps(events, relay.outbox, relay.topic)
    assert skipped == [events[4]]
    assert waiting == []


def test_a_complete_relay_with_redeliveries_passes() -> None:
    events = committed(10)
    relay = FakeRelay()
    for e in events:
        relay.commit(e)
    while relay.outbox:
        relay.publish_once()
    relay.topic.extend(record(e) for e in events[:3])  # a crash before the cursor moved
    assert relay_gaps(events, relay.outbox, relay.topic) == ([], [])


def test_rows_still_in_the_outbox_are_pending_not_skipped() -> None:
    events = committed(7)
    relay = FakeRelay()
    for e in events:
        relay.commit(e)
    relay.publish_once()  # three out, four still in the outbox
    skipped, waiting = relay_gaps(events, relay.outbox, relay.topic)
    assert skipped == []
    assert waiting == events[3:]


def test_records_of_other_scenarios_do_not_hide_a_skip() -> None:
    """Only this scenario's events are judged; extra records (an earlier scenario, a
    rewound tap) neither fail it nor cover for a missing one."""
    earlier, events = committed(5), committed(5)
    topic = [record(e) for e in earlier] + [record(e) for e in events if e != events[2]]
    skipped, _ = relay_gaps(events, [], topic)
    assert skipped == [events[2]]


def test_fault_summary_folds_runs_and_keeps_order() -> None:
    kills = ["SIGKILL incidents", "SIGKILL watcher"]
    assert summary(["lock t", *kills, *kills, "x", "x", "x"]) == (
        "lock t, SIGKILL incidents, SIGKILL watcher, SIGKILL incidents, SIGKILL watcher, x x3"
    )
    assert summary([]) == "none"


def test_check_slack_counts_resends_per_idempotency_key_from_the_metadata() -> None:
    def body(key: str, thread: str | None = None) -> dict[str, Any]:
        meta = {
            "event_type": "interventions_notification",
            "event_payload": {"idempotency_key": key},
        }
        return {"channel": "C0INCIDENTS", "text": "same", "metadata": meta, "thread_ts": thread}

    v = oracles.Verdict()
    # same text under two keys is two messages; one key posted twice is a duplicate
    assert oracles.check_slack([body("a"), body("b")], v) == 0
    assert oracles.check_slack([body("a", "1.1"), body("b"), body("a", "1.2")], v) == 1
    assert oracles.check_slack([{"text": "x"}, {"text": "x"}, {"text": "y"}], v) == 1


def test_a_queued_ticket_create_covers_an_incident_a_missing_one_does_not() -> None:
    @dataclass
    class Issue:
        body: str

    issues = {1: Issue("x " + oracles.marker(7))}
    v = oracles.Verdict()
    assert oracles.check_tickets(issues, [7, 8, 9], v, queued={8}) == 0
    assert v.problems == ["1 sev1/sev2 incident(s) without a ticket: [9]"]


class FakeConn:
    """Answers check_relay's two reads: the scenario's committed events, then the outbox."""

    def __init__(self, events: list[str], outbox: list[str]):
        self.answers: list[list[dict[str, Any]]] = [
            [{"event_id": e} for e in events],
            [{"value": record(e)} for e in outbox],
        ]

    async def fetch(self, *_: Any) -> list[dict[str, Any]]:
        return self.answers.pop(0)


async def test_an_event_the_tap_missed_but_the_topic_holds_is_not_called_skipped() -> None:
    events = committed(6)
    on_topic = [record(e) for e in events]
    tapped = on_topic[:4]  # the tap stopped reading before the last two
    v = oracles.Verdict()

    async def reread() -> list[bytes]:
        return on_topic

    await oracles.check_relay(FakeConn(events, []), 0, tapped, v, reread=reread)
    assert v.problems == []


async def test_an_event_on_neither_the_tap_nor_the_topic_is_still_skipped() -> None:
    events = committed(6)
    on_topic = [record(e) for e in events[:5]]
    v = oracles.Verdict()

    async def reread() -> list[bytes]:
        return on_topic

    await oracles.check_relay(FakeConn(events, []), 0, on_topic[:2], v, reread=reread)
    assert v.problems == [f"the relay skipped 1 committed event(s): {[events[5]]}"]
