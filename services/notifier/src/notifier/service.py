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
from .domain import Tracked
from .settings import Settings
from .store import Store
from .writes import Writes

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

    async def handle(
        self,
        good: Sequence[Envelope[Event]],
        bad: Sequence[kafka.Bad],
        now: datetime | None = None,
    ) -> None:
        """One batch in one transaction: inbox, deliveries, timers, SSE frames, dead letters;
        the batch's incidents are locked and loaded at once and its writes batched."""
        now = now or utcnow()
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self.inbox.claim(conn, [env.id for env in good])
            todo: list[Envelope[Event]] = []
            for env in good:
                if env.id in fresh:
                    fresh.discard(env.id)  # the same id twice in one batch counts once
                    todo.append(env)
            ids = [e.data.incident_id for e in todo if isinstance(e.data, ev.IncidentEvent)]
            tracked = await self.store.tracked_many(conn, ids) if ids else {}
            writes = Writes(self.store.s, conn, now)
            frames: list[tuple[str, dict[str, object]]] = []
            for env in todo:
                with tracing.record_span(
                    f"process {self.topic(env)}",
                    env.traceparent,
                    destination=self.topic(env),
                    message_id=env.id,
                ):
                    frames.extend(await self._one(env.data, tracked, writes, now))
            await writes.flush()
            await self.outbox.add(
                conn, [kafka.dead_letter_message(b, CONSUMER, self.prefix) for b in bad]
            )
            await self.store.append_sse(conn, frames)

    def topic(self, env: Envelope[Event]) -> str:
        return topics.full(env.data.topic, self.prefix)

    async def _one(
        self, event: Event, tracked: dict[int, Tracked], writes: Writes, now: datetime
    ) -> list[tuple[str, dict[str, object]]]:
        """Decide one event against the batch's view of its incident and queue its writes."""
        if isinstance(event, ActionEvent):
            return [domain.action_frame(event)]
        if not isinstance(event, ev.IncidentEvent):
            return []
        fx = domain.on_incident_event(tracked.get(event.incident_id), event, self.settings, now)
        if fx.tracked is not None:
            tracked[event.incident_id] = fx.tracked
        await writes.add(fx, tracing.current_traceparent())
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
