"""A detection's record: written by orjson from the detection's fields (no Envelope), it
decodes back to the same detection, keyed and headed as before; evidence orjson cannot write
goes through pydantic's JSON dump instead of failing the batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from interventions_events import decode
from interventions_events.detections import InvariantViolated
from interventions_platform.kafka import Publisher
from interventions_platform.runtime import Runtime
from watcher import settings
from watcher.domain import Detection
from watcher.handler import SignalHandler

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def handler() -> SignalHandler:
    runtime = Runtime("watcher", raw_config={})
    runtime.publisher = Publisher(cast(Any, None), "interventions/watcher", "p.")  # builds only
    return SignalHandler(runtime, settings.load({}))


def detection(evidence: dict[str, Any]) -> Detection:
    data = InvariantViolated(
        kind="invariant",
        key="INV_data_freshness",
        subject="inbox.triage",
        observed_at=datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=UTC),
        source_event_id="ev-1",
        hint="critical",
        evidence=evidence,
    )
    return Detection("d-1", data)


def test_the_record_decodes_back_to_the_detection() -> None:
    d = detection({"invariant": {"id": "data_freshness", "actual": 1800.0}, "task_id": None})
    msg = handler()._message(d, TRACE)
    env = decode(msg.value)
    assert (env.id, env.data, env.subject, env.traceparent) == ("d-1", d.data, d.data.key, TRACE)
    assert env.source == "interventions/watcher"
    assert msg.topic == "p.detections" and msg.key == b"INV_data_freshness"
    assert dict(msg.headers) == {
        "ce_type": "InvariantViolated",
        "ce_id": "d-1",
        "traceparent": TRACE,
    }


def test_evidence_orjson_cannot_write_goes_through_pydantic() -> None:
    d = detection({"labels": {"b", "a"}})  # a set: pydantic writes a list, orjson refuses
    env = decode(handler()._message(d, None).value)
    assert env.id == "d-1" and sorted(env.data.evidence["labels"]) == ["a", "b"]  # type: ignore[attr-defined]
