"""The only code that changes the notifier's tables in response to events and timers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from interventions_events import Envelope, Event, topics
from interventions_events import incidents as ev
from interventions_events.actions import ActionEvent
from interventions_eventstore import Inbox, Outbox, OutboxMessage
from interventions_platform import kafka, tracing
from interventions_platform.runtime import Runtime

from . import domain
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)
CONSUMER = "notifier"


def utcnow() -> datetime:
    return datetime.now(UTC)


class NotifierService:
    def __init__(self, runtime: Runtime, settings: Settings):
        self.runtime = runtime
        self.settings = settings
        self.prefix = runtime.prefix
        schema = runtime.schema
        self.store = Store(schema)
        self.inbox = Inbox(schema, CONSUMER)
        self.outbox = Outbox(schema)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.db

    @property
    def publisher(self) -> kafka.Publisher:
        return self.runtime.pub

    def message(self, event: Event) -> OutboxMessage:
        incident_id = getattr(event, "incident_id", None)
        return self.publisher.message(
            self.publisher.envelope(event, subject=str(incident_id)), key=str(incident_id)
        )

    async def handle(self, good: Sequence[Envelope[Event]], bad: Sequence[kafka.Bad]) -> None:
        """One batch in one transaction: inbox, deliveries, timers, SSE frames, dead letters."""
        now = utcnow()
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self.inbox.claim(conn, [env.id for env in good])
            frames: list[tuple[str, dict[str, object]]] = []
            out: list[OutboxMessage] = [
                kafka.dead_letter_message(b, CONSUMER, self.prefix) for b in bad
            ]
            for env in good:
                if env.id not in fresh:
                    continue
                fresh.discard(env.id)  # the same id twice in one batch counts once
                with tracing.record_span(
                    f"process {self.topic(env)}",
                    env.traceparent,
                    destination=self.topic(env),
                    message_id=env.id,
                ):
                    frames.extend(await self._one(conn, env.data, now))
            await self.outbox.add(conn, out)
            await self.store.append_sse(conn, frames)

    def topic(self, env: Envelope[Event]) -> str:
        return topics.full(env.data.topic, self.prefix)

    async def _one(
        self, conn: asyncpg.Connection, event: Event, now: datetime
    ) -> list[tuple[str, dict[str, object]]]:
        if isinstance(event, ActionEvent):
            return [domain.action_frame(event)]
        if not isinstance(event, ev.IncidentEvent):
            return []
        tracked = await self.store.tracked(conn, event.incident_id)
        fx = domain.on_incident_event(tracked, event, self.settings, now)
        await self.store.apply(conn, fx, now, tracing.current_traceparent())
        for line in fx.logs:
            log.info(line)
        return list(fx.sse)

    async def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every due timer once; each in its own transaction with its incident locked."""
        now = now or utcnow()
        async with self.pool.acquire() as conn:
            due = await self.store.due_timers(conn, now)
        fired = 0
        for timer_id, incident_id in due:
            fired += await self._fire(timer_id, incident_id, now)
        return fired

    async def _fire(self, timer_id: int, incident_id: int, now: datetime) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            tracked = await self.store.tracked(conn, incident_id)  # lock order: incident, timer
            timer = await self.store.claim_timer(conn, timer_id, now)
            if timer is None:
                return 0
            fx = domain.on_timer(timer, tracked, self.settings, now)
            await self.store.apply(conn, fx, now)
            await self.outbox.add(conn, [self.message(e) for e in fx.events])
            for e in fx.events:
                log.info("incident %s: %s", incident_id, e.type_name)
            return 1
