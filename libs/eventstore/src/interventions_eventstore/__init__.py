"""PostgreSQL event store, transactional outbox with relay, and consumer inbox."""

from .db import create_pool, ident, keeps_session, migrate, rows_affected
from .inbox import Inbox, prune_inbox
from .migrations import CORE
from .outbox import Outbox, OutboxMessage, OutboxRelay
from .publish import send_batched
from .scan import RawRow, scan_raw
from .store import Append, ConcurrencyError, DuplicateEventError, EventStore, NewEvent, StoredEvent

__all__ = [
    "CORE",
    "Append",
    "ConcurrencyError",
    "DuplicateEventError",
    "EventStore",
    "Inbox",
    "NewEvent",
    "Outbox",
    "OutboxMessage",
    "OutboxRelay",
    "RawRow",
    "StoredEvent",
    "create_pool",
    "ident",
    "keeps_session",
    "migrate",
    "prune_inbox",
    "rows_affected",
    "scan_raw",
    "send_batched",
]
