"""Events of issue-sync, published on `issues` (key = incident id)."""

from __future__ import annotations

from datetime import datetime

from . import topics
from .base import Event, register


class IssueEvent(Event):
    incident_id: int
    provider: str
    at: datetime


@register(topics.ISSUES)
class IssueLinked(IssueEvent):
    url: str
    external_id: str
    found_by_marker: bool = False  # re-linked after a crash instead of opening a second ticket


@register(topics.ISSUES)
class IssueSynced(IssueEvent):
    operation: str
    url: str


@register(topics.ISSUES)
class IssueSyncFailed(IssueEvent):
    operation: str
    error: str
    status_code: int | None = None


ISSUE_EVENT_TYPES = (IssueLinked, IssueSynced, IssueSyncFailed)
