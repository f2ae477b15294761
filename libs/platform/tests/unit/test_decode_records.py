"""Both ways of decoding a consumed batch split it the same way, with the same reasons; the
records a batch is read into have every field."""

from __future__ import annotations

import orjson
from aiokafka.structs import ConsumerRecord
from interventions_events import Envelope, encode
from interventions_events.detections import BudgetExceeded
from interventions_platform.kafka import Record, decode_records, decode_records_fields, records_of


def record(offset: int, value: bytes) -> Record:
    return Record("t.detections", 0, offset, None, value, ())


def test_fields_and_envelopes_split_a_batch_alike() -> None:
    data = BudgetExceeded(
        kind="budget",
        key="BUDGET_a_latency_p95",
        subject="inbox.triage",
        observed_at="2026-11-26T21:00:00Z",  # type: ignore[arg-type]
        source_event_id="s",
        evidence={"violation": {"budget_type": "latency_p95"}},
    )
    good = encode(Envelope(data=data, source="test", traceparent="00-" + "a" * 32 + "-" + "b" * 16))
    unknown = orjson.dumps(
        {"specversion": "1.0", "id": "x", "source": "s", "type": "Nope", "data": {}}
    )
    records = [record(0, good), record(1, b"{not json"), record(2, unknown), record(3, good)]
    envelopes, bad_a = decode_records(records)
    fields, bad_b = decode_records_fields(records)
    assert [(r.offset, e.id, e.data, e.traceparent) for r, e in envelopes] == [
        (r.offset, f.id, f.data, f.traceparent) for r, f in fields
    ]
    assert [r.offset for r, _ in fields] == [0, 3]
    assert [(b.record.offset, b.reason) for b in bad_a] == [
        (b.record.offset, b.reason) for b in bad_b
    ]
    assert [b.record.offset for b in bad_b] == [1, 2]
    assert "unknown event type 'Nope'" in bad_b[1].reason


def test_records_of_builds_each_record_as_its_constructor_would() -> None:
    """`records_of` makes its Records with tuple's C `__new__`: every field in place."""
    raw = ConsumerRecord("t", 2, 9, 1234, 0, b"k", b"v", None, 1, 1, [("h", b"1")])
    msg = type("Msg", (), {"raw_message": (raw,)})()
    (got,) = records_of(msg)  # type: ignore[arg-type]
    assert len(got) == len(Record._fields)
    assert got == Record("t", 2, 9, b"k", b"v", (("h", b"1"),), 1234)
