"""Pinned topic names; the prefix comes from KAFKA_TOPIC_PREFIX (default `interventions.`)."""

from __future__ import annotations

import os
from typing import Final

DEFAULT_PREFIX: Final = "interventions."

SIGNALS_EVAL: Final = "signals.eval"
SIGNALS_BUDGET: Final = "signals.budget"
SIGNALS_CANARY: Final = "signals.canary"
SIGNALS_GATE: Final = "signals.gate"
DETECTIONS: Final = "detections"
INCIDENTS: Final = "incidents"
ACTIONS: Final = "actions"
NOTIFICATIONS: Final = "notifications"
ISSUES: Final = "issues"
COMMANDS_EVAL: Final = "commands.eval"
COMMANDS_PLANNER: Final = "commands.planner"
DLQ: Final = "dlq"

SIGNAL_TOPICS: Final = (SIGNALS_EVAL, SIGNALS_BUDGET, SIGNALS_CANARY, SIGNALS_GATE)
ALL_TOPICS: Final = (
    *SIGNAL_TOPICS,
    DETECTIONS,
    INCIDENTS,
    ACTIONS,
    NOTIFICATIONS,
    ISSUES,
    COMMANDS_EVAL,
    COMMANDS_PLANNER,
    DLQ,
)


def prefix() -> str:
    """The topic prefix in force (KAFKA_TOPIC_PREFIX, default `interventions.`)."""
    return os.environ.get("KAFKA_TOPIC_PREFIX", DEFAULT_PREFIX)


def full(name: str, topic_prefix: str | None = None) -> str:
    """Full topic name: prefix + pinned name, e.g. `interventions.signals.eval`."""
    return (prefix() if topic_prefix is None else topic_prefix) + name
