"""Events of the notifier, published on `notifications` (key = incident id)."""

from __future__ import annotations

from datetime import datetime

from . import topics
from .base import Event, register


class NotificationEvent(Event):
    incident_id: int
    at: datetime


@register(topics.NOTIFICATIONS)
class NotificationSent(NotificationEvent):
    sink: str
    transition: str
    idempotency_key: str
    target: str | None = None
    status_code: int | None = None
    attempts: int = 1


@register(topics.NOTIFICATIONS)
class NotificationFailed(NotificationEvent):
    sink: str
    transition: str
    idempotency_key: str
    error: str
    status_code: int | None = None
    retryable: bool = False  # true: retries were exhausted; false: the vendor refused it
    attempts: int = 1


@register(topics.NOTIFICATIONS)
class EscalationTriggered(NotificationEvent):
    level: str
    targets: tuple[str, ...] = ()
    reason: str = "no acknowledgement"


@register(topics.NOTIFICATIONS)
class SlaBreached(NotificationEvent):
    severity: str
    target: str
    due_at: datetime


NOTIFICATION_EVENT_TYPES = (NotificationSent, NotificationFailed, EscalationTriggered, SlaBreached)
