"""Outbound commands for the systems being remediated (pinned in DESIGN.md)."""

from __future__ import annotations

from pydantic import Field

from . import topics
from .base import Event, register


@register(topics.COMMANDS_EVAL)
class EvalRerunRequested(Event):
    agent: str
    task_id: str | None = None
    incident_id: int
    requested_by: str


@register(topics.COMMANDS_PLANNER)
class PlannerRollbackRequested(Event):
    from_version: str
    to_version: str | None = None
    immediate: bool = False
    incident_id: int
    requested_by: str


@register(topics.COMMANDS_PLANNER)
class CanarySplitChangeRequested(Event):
    version: str
    target_percent: float = Field(ge=0, le=100)
    gradual: bool = True
    incident_id: int
    requested_by: str
