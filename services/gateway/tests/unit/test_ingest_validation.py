"""Ingest validation: each bad document is named by index, id and reason."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from gateway.ingest import kafka_key, parse_batch, validate


def gate(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "specversion": "1.0",
        "id": "e1",
        "source": "s",
        "type": "GateEvaluated",
        "data": {"gate": "g", "agent": "warehouse.health", "passed": False},
    }
    doc.update(over)
    return doc


def test_a_single_object_is_a_batch_of_one() -> None:
    assert parse_batch(b'{"a": 1}', 10) == [{"a": 1}]


def test_a_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(HTTPException) as err:
        parse_batch(b"[1, 2, 3]", 2)
    assert err.value.status_code == 400


def test_good_signals_pass_and_are_keyed_by_agent() -> None:
    good, bad = validate([gate()])
    assert bad == [] and kafka_key(good[0]) == "warehouse.health"


def test_wrong_specversion_and_unknown_type_are_rejected_with_reasons() -> None:
    good, bad = validate([gate(specversion="0.3"), gate(id="e2", type="Nope")])
    assert good == []
    assert [(b.index, b.id) for b in bad] == [(0, "e1"), (1, "e2")]
    assert "specversion" in bad[0].reason and "not a signal" in bad[1].reason
