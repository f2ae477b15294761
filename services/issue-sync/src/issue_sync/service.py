"""Intake: turn consumed incident and action events into queued ticket ops, in one
transaction with the inbox claim (a redelivered event queues nothing twice)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import asyncpg
from interventions_events import Envelope, Event, topics
from interventions_eventstore import Inbox, Outbox
from interventions_platform import kafka, tracing

from . import content, domain
from .settings import IssueSyncSettings
from .store import SyncStore

log = logging.getLogger(__name__)
CONSUMER = "issue-sync"


class Intake:
    """The consuming side: records ops; never calls the tracker, so an outage never blocks it."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        schema: str,
        prefix: str,
        settings: IssueSyncSettings,
        wake: Callable[[], None],
    ):
        self.pool = pool
        self.prefix = prefix
        self.settings = settings
        self.store = SyncStore(schema)
        self.inbox = Inbox(schema, CONSUMER)
        self.outbox = Outbox(schema)
        self.wake = wake

    async def handle(self, records: Sequence[kafka.Record]) -> None:
        """Queue the ops of every new event and dead-letter the invalid records."""
        good, bad = kafka.decode_records(records)
        queued = 0
        async with self.pool().acquire() as conn, conn.transaction():
            fresh = await self.inbox.claim(conn, [env.id for _, env in good])
            for _, env in good:
                if env.id in fresh:
                    fresh.discard(env.id)  # a duplicate inside one batch counts once
                    topic = topics.full(env.data.topic, self.prefix)
                    with tracing.record_span(
                        f"process {topic}", env.traceparent, destination=topic, message_id=env.id
                    ):
                        queued += await self._apply(conn, env)
            await self.outbox.add(
                conn, [kafka.dead_letter_message(b, CONSUMER, self.prefix) for b in bad]
            )
        for b in bad:
            log.warning("dead-lettered %s@%d: %s", b.record.topic, b.record.offset, b.reason)
        if queued:
            self.wake()

    async def _apply(self, conn: asyncpg.Connection, env: Envelope[Event]) -> int:
        incident_id = getattr(env.data, "incident_id", None)
        if not isinstance(incident_id, int):
            return 0  # e.g. DetectionSuppressed: no incident, no ticket
        tracked = await self.store.is_tracked(conn, incident_id)
        ops = domain.decide(env.data, tracked=tracked, severities=self.settings.severities)
        if not ops:
            return 0
        rendered = [(op.kind, content.render(op, console=self.settings.console_url)) for op in ops]
        await self.store.enqueue(conn, incident_id, env.id, rendered, tracing.current_traceparent())
        return len(ops)
