"""Events of the playbooks service, published on `actions` (key = incident id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from . import topics
from .base import Event, register


class ActionEvent(Event):
    execution_id: str
    incident_id: int
    action_type: str
    params: dict[str, Any] = Field(default_factory=dict)
    actor: str
    at: datetime
    reason: str | None = None


@register(topics.ACTIONS)
class ActionDryRunCompleted(ActionEvent):
    status: str
    estimated_duration: str
    estimated_cost: str
    changes: tuple[str, ...] = ()


@register(topics.ACTIONS)
class ActionExecutionRequested(ActionEvent):
    suggested: bool = True
    needs_approval: bool = False
    approval_reasons: tuple[str, ...] = ()


@register(topics.ACTIONS)
class ActionApprovalRequested(ActionEvent):
    expires_at: datetime


@register(topics.ACTIONS)
class ActionApproved(ActionEvent):
    pass


@register(topics.ACTIONS)
class ActionApprovalExpired(ActionEvent):
    pass


@register(topics.ACTIONS)
class ActionStarted(ActionEvent):
    pass


@register(topics.ACTIONS)
class ActionSucceeded(ActionEvent):
    result: dict[str, Any] = Field(default_factory=dict)
    duration_ms: float = 0


@register(topics.ACTIONS)
class ActionFailed(ActionEvent):
    error: str
    duration_ms: float = 0
    result: dict[str, Any] = Field(default_factory=dict)
    circuit_opened: bool = False


@register(topics.ACTIONS)
class ActionRolledBack(ActionEvent):
    result: dict[str, Any] = Field(default_factory=dict)


ACTION_EVENT_TYPES = (
    ActionDryRunCompleted,
    ActionExecutionRequested,
    ActionApprovalRequested,
    ActionApproved,
    ActionApprovalExpired,
    ActionStarted,
    ActionSucceeded,
    ActionFailed,
    ActionRolledBack,
)
