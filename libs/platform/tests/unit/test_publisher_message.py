"""A record built from an already-dumped payload is byte-equal to the codec's encoding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from interventions_events import Envelope, Event, encode
from interventions_events.incidents import OccurrenceRecorded
from interventions_platform.kafka import Publisher


def test_a_message_from_a_dumped_payload_equals_the_encoded_envelope() -> None:
    pub = Publisher(cast(Any, None), "interventions/incidents", "t.")
    event = OccurrenceRecorded(
        incident_id=7,
        at=datetime(2026, 11, 26, 21, 0, tzinfo=UTC),
        by="system",
        key="INV_x",
        detection_id="d-1",
        observed_at=datetime(2026, 11, 26, 20, 59, tzinfo=UTC),
        rule="dedup",
        details={"agent": "a"},
        incident={"id": 7, "status": "open"},
    )
    for subject, trace in ((None, None), ("7", "00-" + "a" * 32 + "-" + "b" * 16 + "-01")):
        env: Envelope[Event] = Envelope(data=event, source=pub.source, subject=subject)
        if trace:
            env = Envelope(data=event, source=pub.source, subject=subject, traceparent=trace)
        fast = pub.message(env, "7", data=event.model_dump(mode="json"))
        assert fast.value == encode(env)
        assert fast == pub.message(env, "7")
