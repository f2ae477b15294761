"""The record of a stored event, built without its Envelope, carries what the codec's encoding
of that envelope carries: the same event, attributes, key, topic and headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import orjson
from interventions_events import Envelope, Event, decode
from interventions_events.incidents import OccurrenceRecorded
from interventions_platform.kafka import Publisher


def test_a_stored_events_record_equals_the_encoded_envelope() -> None:
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")
    event = OccurrenceRecorded(
        incident_id=7,
        at=datetime(2026, 11, 26, 21, 0, tzinfo=UTC),
        by="system",
        key="INV_x",
        detection_id="d-1",
        observed_at=datetime(2026, 11, 26, 20, 59, tzinfo=UTC),
        rule="dedup",
        details={"agent": "a", "n": [1, None]},
        incident={"id": 7, "status": "open"},
    )
    at = datetime(2026, 11, 26, 21, 0, 1, 250, tzinfo=UTC)
    for trace in (None, "00-" + "a" * 32 + "-" + "b" * 16 + "-01"):
        env: Envelope[Event] = Envelope(
            data=event, source=pub.source, id="e-1", time=at, subject="7", traceparent=trace
        )
        fast = pub.stored(
            event, dict(event.__dict__), event_id="e-1", time=at, subject="7", traceparent=trace
        )
        slow = pub.message(env, "7")
        assert decode(fast.value) == decode(slow.value)
        assert orjson.loads(fast.value).keys() == orjson.loads(slow.value).keys()
        assert (fast.topic, fast.key, fast.headers) == (slow.topic, slow.key, slow.headers)
