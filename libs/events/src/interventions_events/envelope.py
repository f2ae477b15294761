"""The CloudEvents 1.0 envelope (structured JSON mode) carried on every topic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from .base import Event

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

P = TypeVar("P", bound=Event)


def new_id() -> str:
    """A fresh, unique event id (the idempotency key)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope(Generic[P]):
    """One event with its CloudEvents attributes; `data` is the typed payload."""

    data: P
    source: str
    id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=utcnow)
    subject: str | None = None
    traceparent: str | None = None
    specversion: str = SPECVERSION
    datacontenttype: str = CONTENT_TYPE

    @property
    def type(self) -> str:
        return self.data.type_name

    @property
    def schemaversion(self) -> int:
        return self.data.schema_version
