"""One queued op against the tracker, and the link, op status and `issues` events it leaves."""

from __future__ import annotations

import logging
import os
from typing import Any

import asyncpg
from interventions_events import Event, utcnow
from interventions_events import issues as ev
from interventions_eventstore import Outbox
from interventions_platform.kafka import Publisher

from .adapters.base import IssueTracker, NewTicket, Ticket, TrackerError
from .settings import CRASH_AFTER_CREATE_ENV
from .store import Link, PendingOp, SyncStore

log = logging.getLogger(__name__)


class Performer:
    def __init__(
        self, tracker: IssueTracker, store: SyncStore, outbox: Outbox, publisher: Publisher
    ):
        self.tracker = tracker
        self.store = store
        self.outbox = outbox
        self.pub = publisher

    async def perform(self, conn: asyncpg.Connection, op: PendingOp) -> None:
        """Do the op (raising TrackerError on failure) and record its outcome atomically."""
        link = await self.store.link(conn, op.incident_id)
        if op.kind == "open":
            await self._open(conn, op, link)
        elif link is None or link.state == "missing":
            await self._finish(conn, op, "skipped", "no ticket to update")
        elif op.kind == "comment":
            await self.tracker.comment(link.external_id, op.payload["body"])
            await self._finish(conn, op, "done", synced=link)
        elif op.kind in ("close", "ensure_closed"):
            await self._set_state(conn, op, link, "closed")
        elif op.kind == "reopen":
            await self._set_state(conn, op, link, "open")

    async def _open(self, conn: asyncpg.Connection, op: PendingOp, link: Link | None) -> None:
        if link is not None:
            await self._finish(conn, op, "done")
            return
        p = op.payload
        found: Ticket | None = None
        # A previous attempt may have created the ticket and died (or timed out) before
        # recording it: look for the marker first. One lookup is cheaper than a duplicate.
        if op.attempts > 0:
            found = await self.tracker.find_by_marker(p["marker"])
        ticket = found or await self.tracker.open(
            NewTicket(
                title=p["title"], body=p["body"], marker=p["marker"], labels=tuple(p["labels"])
            )
        )
        if found is None and os.environ.get(CRASH_AFTER_CREATE_ENV) == "1":
            os._exit(137)  # test-only: die between the create and the link (docs/issue-sync.md)
        link = Link(op.incident_id, self.tracker.provider, ticket.external_id, ticket.url, "open")
        linked = ev.IssueLinked(
            incident_id=op.incident_id,
            provider=link.provider,
            at=utcnow(),
            url=link.url,
            external_id=link.external_id,
            found_by_marker=found is not None,
        )
        async with conn.transaction():
            await self.store.save_link(conn, link)
            await self._finish(conn, op, "done", synced=link, extra=[linked])

    async def _set_state(
        self, conn: asyncpg.Connection, op: PendingOp, link: Link, state: str
    ) -> None:
        if link.state != state:
            if state == "closed":
                await self.tracker.close(link.external_id, op.payload.get("reason", "completed"))
            else:
                await self.tracker.reopen(link.external_id)
        async with conn.transaction():
            await self.store.set_state(conn, op.incident_id, state)
            await self._finish(conn, op, "done", synced=link)

    async def _finish(
        self,
        conn: asyncpg.Connection,
        op: PendingOp,
        status: str,
        error: str | None = None,
        *,
        synced: Link | None = None,
        extra: list[Event] | None = None,
    ) -> None:
        events = list(extra or [])
        if synced is not None:
            events.append(
                ev.IssueSynced(
                    incident_id=op.incident_id,
                    provider=synced.provider,
                    at=utcnow(),
                    operation=op.kind,
                    url=synced.url,
                )
            )
        async with conn.transaction():
            await self.store.finish(conn, op, status, error)
            await self._emit(conn, op.incident_id, events)

    async def ticket_missing(
        self, conn: asyncpg.Connection, op: PendingOp, exc: TrackerError
    ) -> None:
        """A linked ticket vanished: record it, skip its later updates, keep going."""
        link = await self.store.link(conn, op.incident_id)
        where = link.url if link else "the linked ticket"
        msg = (
            f"{where} no longer exists (deleted or moved); later updates for incident "
            f"{op.incident_id} are skipped. {exc.message}"
        )
        async with conn.transaction():
            await self.store.set_state(conn, op.incident_id, "missing")
            await self.store.finish(conn, op, "failed", msg)
            await self._emit(conn, op.incident_id, [self._failed(op, msg, exc.status_code)])

    async def give_up(self, conn: asyncpg.Connection, op: PendingOp, exc: TrackerError) -> None:
        """The tracker refused the request as invalid: retrying would not help."""
        async with conn.transaction():
            await self.store.finish(conn, op, "failed", exc.message)
            await self._emit(conn, op.incident_id, [self._failed(op, exc.message, exc.status_code)])

    async def report(
        self, conn: asyncpg.Connection, op: PendingOp, exc: TrackerError, *, retry_in: float
    ) -> None:
        msg = f"{exc.message}; queued updates will sync in order (next try in {retry_in:.0f}s)"
        await self._emit(conn, op.incident_id, [self._failed(op, msg, exc.status_code)])

    def _failed(self, op: PendingOp, msg: str, status: int | None) -> ev.IssueSyncFailed:
        return ev.IssueSyncFailed(
            incident_id=op.incident_id,
            provider=self.tracker.provider,
            at=utcnow(),
            operation=op.kind,
            error=msg,
            status_code=status,
        )

    async def _emit(self, conn: asyncpg.Connection, incident_id: int, events: list[Any]) -> None:
        key = str(incident_id)
        await self.outbox.add(
            conn, [self.pub.message(self.pub.envelope(e, subject=key), key=key) for e in events]
        )
