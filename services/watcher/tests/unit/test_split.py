"""Splitting a consumed batch: signals decoded lean, everything else dead-lettered with the
reason the full codec gives, in record order, with the original record kept."""

from __future__ import annotations

import orjson
import pytest
from interventions_events import InvalidEvent, decode
from interventions_platform.kafka import Record
from watcher.handler import SignalHandler

GOOD = {
    "specversion": "1.0",
    "id": "ev-1",
    "source": "test",
    "type": "EvalRunCompleted",
    "time": "2026-11-26T21:00:00Z",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "data": {"run_id": "r", "agent": "a", "invariants": [{"id": "i", "name": "n", "passed": 1}]},
}
BEAT = {
    **GOOD,
    "id": "hb-1",
    "type": "WatcherHeartbeat",
    "data": {"watcher_id": "x", "cycle": 1, "at": "2026-11-26T21:00:00Z"},
}
BAD = [
    b'{"specversion": "1.0"',
    orjson.dumps({**GOOD, "data": {**GOOD["data"], "agent": ""}}),  # type: ignore[dict-item]
    orjson.dumps({**GOOD, "time": "yesterday", "source": ""}),
    orjson.dumps({**GOOD, "schemaversion": 2}),
    b"",
]


def record(offset: int, value: bytes | None) -> Record:
    return Record("p.signals.eval", 0, offset, b"k", value or b"", (("h", b"v"),))


def reason(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(raw)
    return info.value.reason


def test_invalid_records_get_the_codec_reason_and_valid_signals_pass_in_order() -> None:
    values = [orjson.dumps(GOOD), *BAD, orjson.dumps({**GOOD, "id": "ev-2"})]
    records = [record(i, v) for i, v in enumerate(values)]
    origins: dict[str, tuple[str, str | None]] = {}
    signals, bad = SignalHandler.split(records, origins)
    assert [s[0] for s in signals] == ["ev-1", "ev-2"]
    assert signals[0][2] == decode(values[0]).data and signals[0][1] == decode(values[0]).time
    assert [(b.record, b.reason) for b in bad] == [
        (records[i], reason(values[i])) for i in range(1, 6)
    ]
    assert origins["ev-1"] == ("p.signals.eval", GOOD["traceparent"])


def test_a_valid_event_that_is_not_a_signal_is_dead_lettered_saying_so() -> None:
    signals, bad = SignalHandler.split([record(7, orjson.dumps(BEAT))])
    assert not signals
    assert bad[0].record.offset == 7
    assert bad[0].reason == (
        "WatcherHeartbeat is not a signal; p.signals.eval carries only the pinned signals"
    )
