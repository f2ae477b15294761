"""The watcher process against the real broker: signals in, detections out; poison signals
to the DLQ with their reason while the rest are processed."""

from __future__ import annotations

from typing import Any

from interventions_events import topics

from .conftest import Got, Stack, cloudevent


def eval_run(i: int, passed: bool = False) -> dict[str, Any]:
    return {
        "run_id": f"run-{i}",
        "agent": "inbox.triage",
        "task_id": f"t-{i}",
        "invariants": [
            {
                "id": f"inv_{i}",
                "name": "Check",
                "passed": passed,
                "priority": "high",
                "threshold": 1,
                "actual": 2,
                "unit": "x",
            }
        ],
    }


def budget(agent: str, **metrics: float) -> dict[str, Any]:
    return {"agent": agent, "samples": 100, "metrics": metrics}


async def test_poison_signal_among_1000_is_dead_lettered_and_999_are_processed(
    stack: Stack,
) -> None:
    items = [
        (f"a{i}", cloudevent("EvalRunCompleted", eval_run(i), event_id=f"ev-{i}"))
        for i in range(1000)
    ]
    poison = b'{"specversion": "1.0", "id": "bad-1", "type": "EvalRunCompleted"'
    items[500] = ("a500", poison)
    await stack.send(topics.SIGNALS_EVAL, items)

    def detections() -> list[Got]:
        return stack.got.of("detections", "InvariantViolated")

    await stack.got.wait(lambda: len(detections()) >= 999 and len(stack.got.of(".dlq")) >= 1)
    (dead,) = stack.got.of(".dlq")
    assert dead.value == poison and dead.key == b"a500"
    assert "not valid UTF-8 JSON" in dead.headers["dlq-reason"]
    assert dead.headers["dlq-consumer"] == "watcher"
    assert dead.headers["dlq-topic"] == topics.full(topics.SIGNALS_EVAL, stack.prefix)
    sources = sorted(d.doc["data"]["source_event_id"] for d in detections())
    assert sources == sorted(f"ev-{i}" for i in range(1000) if i != 500)
    d = next(d for d in detections() if d.doc["data"]["source_event_id"] == "ev-7")
    assert d.key == b"INV_inv_7" and d.doc["data"]["key"] == "INV_inv_7"
    assert d.doc["data"]["hint"] == "high" and d.doc["data"]["kind"] == "invariant"
    assert d.doc["data"]["evidence"]["run_id"] == "run-7"


async def test_budget_breach_gate_breach_and_recovery_share_one_key(stack: Stack) -> None:
    key = "BUDGET_warehouse.health_quality"
    gate = {
        "gate": "nightly",
        "agent": "warehouse.health",
        "passed": False,
        "violations": [
            {
                "budget_type": "quality",
                "threshold": 90,
                "actual": 82,
                "severity": "critical",
                "message": "quality 82 below 90",
            }
        ],
    }
    await stack.send(
        topics.SIGNALS_BUDGET,
        [
            (
                "warehouse.health",
                cloudevent("BudgetMetricsReported", budget("warehouse.health", quality_score=82)),
            )
        ],
    )
    await stack.send(topics.SIGNALS_GATE, [("warehouse.health", cloudevent("GateEvaluated", gate))])

    def exceeded() -> list[Got]:
        return stack.got.of("detections", "BudgetExceeded")

    await stack.got.wait(lambda: len(exceeded()) >= 2)
    assert {d.key for d in exceeded()} == {key.encode()}
    assert {d.doc["data"]["evidence"]["source"] for d in exceeded()} == {"watcher", "gate"}
    assert {d.doc["data"]["hint"] for d in exceeded()} == {"critical"}

    healthy = budget("warehouse.health", quality_score=95)
    await stack.send(
        topics.SIGNALS_BUDGET,
        [
            ("warehouse.health", cloudevent("BudgetMetricsReported", healthy)),
            ("warehouse.health", cloudevent("BudgetMetricsReported", healthy)),
        ],
    )

    def recovered() -> list[Got]:
        return stack.got.of("detections", "SignalRecovered")

    await stack.got.wait(lambda: len(recovered()) >= 1)
    marker = cloudevent("BudgetMetricsReported", budget("warehouse.health", quality_score=1))
    await stack.send(topics.SIGNALS_BUDGET, [("warehouse.health", marker)])
    await stack.got.wait(lambda: len(exceeded()) >= 3)  # later signals were handled
    (r,) = recovered()
    assert r.key == key.encode() and r.doc["data"]["key"] == key
    assert r.doc["data"]["evidence"]["passed"]["actual"] == 95


async def test_redelivered_signal_yields_the_same_detection_id(stack: Stack) -> None:
    event = cloudevent(
        "BudgetMetricsReported", budget("inbox.triage", p95_latency_ms=1850), event_id="same-signal"
    )
    await stack.send(topics.SIGNALS_BUDGET, [("inbox.triage", event), ("inbox.triage", event)])

    def exceeded() -> list[Got]:
        return stack.got.of("detections", "BudgetExceeded")

    await stack.got.wait(lambda: len(exceeded()) >= 2)
    assert len({d.doc["id"] for d in exceeded()}) == 1
    d = exceeded()[0].doc
    assert d["data"]["evidence"]["violation"] == {
        "budget_type": "latency_p95",
        "threshold": 1000.0,
        "actual": 1850.0,
        "message": "P95 latency 1850ms exceeds budget 1000ms",
    }


async def test_a_valid_event_of_the_wrong_type_on_a_signal_topic_is_dead_lettered(
    stack: Stack,
) -> None:
    beat = {"watcher_id": "x", "cycle": 1, "at": "2026-11-26T21:00:00Z"}
    await stack.send(topics.SIGNALS_EVAL, [("x", cloudevent("WatcherHeartbeat", beat))])
    await stack.got.wait(lambda: len(stack.got.of(".dlq")) >= 1)
    assert "is not a signal" in stack.got.of(".dlq")[0].headers["dlq-reason"]


async def test_a_poison_signal_among_passing_ones_is_dead_lettered(stack: Stack) -> None:
    """A batch with nothing to detect still sends its bad records to the dead-letter topic."""
    items = [
        (f"p{i}", cloudevent("EvalRunCompleted", eval_run(i, passed=True), event_id=f"ok-{i}"))
        for i in range(20)
    ]
    items[10] = ("p10", b'{"specversion": "1.0", "id": "bad-2"')
    await stack.send(topics.SIGNALS_EVAL, items)
    await stack.got.wait(lambda: len(stack.got.of(".dlq")) >= 1)
    (dead,) = stack.got.of(".dlq")
    assert dead.key == b"p10" and "not valid UTF-8 JSON" in dead.headers["dlq-reason"]
    assert not stack.got.of("detections", "InvariantViolated")  # all passed
