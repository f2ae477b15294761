"""AsyncAPI generated from the code covers every pinned topic and event type."""

from __future__ import annotations

from interventions_events import asyncapi, topics


def test_asyncapi_lists_every_pinned_topic_and_signal() -> None:
    doc = asyncapi.generate()
    addresses = {c["address"] for c in doc["channels"].values()}
    for name in (
        *topics.SIGNAL_TOPICS,
        topics.DETECTIONS,
        topics.INCIDENTS,
        topics.ACTIONS,
        topics.NOTIFICATIONS,
        topics.ISSUES,
        topics.COMMANDS_EVAL,
        topics.COMMANDS_PLANNER,
    ):
        assert "interventions." + name in addresses
    for message in (
        "EvalRunCompleted",
        "BudgetMetricsReported",
        "CanaryMetricsReported",
        "GateEvaluated",
        "EvalRerunRequested",
        "PlannerRollbackRequested",
        "CanarySplitChangeRequested",
    ):
        assert message in doc["components"]["messages"]
    eval_data = doc["components"]["messages"]["EvalRunCompleted"]["payload"]["properties"]["data"]
    assert {"run_id", "agent", "invariants"} <= set(eval_data["properties"])


def test_catalogue_mentions_every_event_type() -> None:
    text = asyncapi.catalogue()
    assert "### IncidentOpened" in text and "`signals.eval`" in text
