"""The sync loop: performs each incident's queued ops in order against the tracker.

One incident at a time holds an advisory lock, so replicas never race on a ticket. A failing
head op postpones only its own incident (and pauses all calls while the tracker is rate
limited or down); the queue keeps growing meanwhile and drains in order afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

import asyncpg
from interventions_eventstore import keeps_session
from interventions_platform import tracing
from prometheus_client import Counter, Gauge

from .adapters.base import (
    AuthError,
    IssueTracker,
    NotFound,
    RateLimited,
    Rejected,
    TrackerError,
    Unavailable,
)
from .perform import Performer
from .settings import SyncSection
from .store import Link, PendingOp, SyncStore

log = logging.getLogger(__name__)
LOCK_SPACE = 5471  # advisory-lock key space of issue-sync (second key = incident id)
OPS = Counter(
    "interventions_issue_sync_ops_total",
    "Ticket operations by outcome",
    ["provider", "operation", "outcome"],
)

QUEUED = Gauge("interventions_issue_sync_queued_ops", "Ticket operations waiting to be performed")
PACED = Counter(
    "interventions_issue_sync_paced_waits_total",
    "Times a tracker call waited for a pacing token",
    ["provider"],
)


class SyncWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: SyncStore,
        tracker: IssueTracker,
        performer: Performer,
        tuning: SyncSection,
    ):
        self.pool = pool
        self.store = store
        self.tracker = tracker
        self.performer = performer
        self.tuning = tuning
        self.paused_until = 0.0
        self.failures = 0
        self.pacing = False  # inside a pacing episode (logged once when it starts and ends)
        self.paced_ops = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Run until cancelled; database hiccups are logged and retried."""
        async with self.pool.acquire() as conn:
            await self.store.retry_auth_failures_now(conn)
        while True:
            try:
                worked = await self.run_once()
            # InternalClientError: a connection whose backend was terminated mid-query
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
            ) as exc:
                log.warning("issue sync loop: database error, retrying: %s", exc)
                worked = 0
                await asyncio.sleep(1)
            except Exception:  # a dead worker would stop every ticket for good
                log.exception("issue sync round failed, retrying")
                worked = 0
                await asyncio.sleep(1)
            if not worked:
                await self._idle()

    async def run_once(self) -> int:
        """Perform the due head op of each incident; returns how many ops were attempted."""
        if self._paused() > 0:
            return 0
        async with self.pool.acquire() as conn:
            heads = await self.store.due_heads(conn)
            QUEUED.set(await self.store.queued(conn))
        if not heads and self.pacing:  # the queue drained: the pacing episode is over
            log.info("pacing ended: %d time(s) an op waited for a token", self.paced_ops)
            self.pacing, self.paced_ops = False, 0
        done = 0
        for op in heads:
            if self._paused() > 0:
                break
            done += await self._locked(op.incident_id)
        return done

    async def _locked(self, incident_id: int) -> int:
        async with self.pool.acquire() as conn:
            keeps_session(conn)  # a lock the unlock below missed goes with the reset
            if not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", LOCK_SPACE, incident_id
            ):
                return 0  # another replica is on it
            try:
                op = await self.store.head(conn, incident_id)
                if op is None or not await self._token(conn, op):
                    return 0
                await self._attempt(conn, op)
                return 1
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_SPACE, incident_id)

    async def _token(self, conn: asyncpg.Connection, op: PendingOp) -> bool:
        """Take a pacing token for the op's tracker call; without one the op stays queued
        (untouched, so its incident's order holds) and the worker sleeps until the next."""
        if not _writes(op, await self.store.link(conn, op.incident_id)):
            return True
        provider = self.tracker.provider
        rate, burst = self.tuning.pacing(provider)
        wait = await self.store.take_token(conn, provider, rate, burst)
        if wait <= 0:
            return True
        PACED.labels(provider).inc()
        self.paced_ops += 1
        if not self.pacing:
            self.pacing = True
            log.warning(
                "%s pacing: more than %.0f tracker writes/min (burst %d); ops stay queued "
                "and drain at that rate",
                provider,
                rate,
                burst,
            )
        self.paused_until = max(self.paused_until, time.monotonic() + wait)
        return False

    async def _attempt(self, conn: asyncpg.Connection, op: PendingOp) -> None:
        await self.store.start_attempt(conn, op)
        try:
            with tracing.continued(op.traceparent):  # the tracker call joins the op's trace
                await self.performer.perform(conn, op)
        except TrackerError as exc:
            OPS.labels(self.tracker.provider, op.kind, type(exc).__name__).inc()
            await self._failed(conn, op, exc)
            return
        self.failures = 0
        OPS.labels(self.tracker.provider, op.kind, "ok").inc()

    async def _failed(self, conn: asyncpg.Connection, op: PendingOp, exc: TrackerError) -> None:
        log.warning("incident %s %s failed: %s", op.incident_id, op.kind, exc.message)
        if isinstance(exc, RateLimited):
            wait = min(exc.retry_after, self.tuning.max_rate_limit_wait.total_seconds())
            await self._postpone(conn, op, wait, "rate_limited", exc, report=False)
        elif isinstance(exc, Unavailable):
            self.failures += 1
            await self._postpone(
                conn,
                op,
                exc.retry_after or self._backoff(),
                "unavailable",
                exc,
                report=op.error_kind != "unavailable",
            )
        elif isinstance(exc, AuthError) or (isinstance(exc, NotFound) and op.kind == "open"):
            await self._postpone(
                conn,
                op,
                self.tuning.auth_retry.total_seconds(),
                "auth",
                exc,
                report=op.error_kind != "auth",
            )
        elif isinstance(exc, NotFound):
            await self.performer.ticket_missing(conn, op, exc)
        elif isinstance(exc, Rejected):
            await self.performer.give_up(conn, op, exc)

    async def _postpone(
        self,
        conn: asyncpg.Connection,
        op: PendingOp,
        seconds: float,
        kind: str,
        exc: TrackerError,
        *,
        report: bool,
    ) -> None:
        # The whole tracker is paused: every other call would fail the same way.
        self.paused_until = time.monotonic() + seconds
        async with conn.transaction():
            await self.store.postpone(conn, op, timedelta(seconds=seconds), kind, exc.message)
            if report:
                await self.performer.report(conn, op, exc, retry_in=seconds)

    def _backoff(self) -> float:
        base = self.tuning.retry_initial.total_seconds() * 2 ** min(self.failures - 1, 16)
        return float(min(base, self.tuning.retry_max.total_seconds()))

    def _paused(self) -> float:
        return self.paused_until - time.monotonic()

    async def _idle(self) -> None:
        pause = self._paused()
        if pause > 0:
            await asyncio.sleep(pause)  # a rate limit or outage is waited out, never polled
            return
        timeout = self.tuning.poll_interval.total_seconds()
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            async with self.pool.acquire() as conn:
                due = await self.store.next_due_in(conn)
            if due is not None:
                timeout = min(timeout, max(due, 0.05))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)


def _writes(op: PendingOp, link: Link | None) -> bool:
    """Whether performing the op makes a content-creating tracker call (create, comment,
    close, reopen: at most one per op), mirroring `Performer.perform`."""
    if op.kind == "open":
        return link is None
    if link is None or link.state == "missing":
        return False
    if op.kind in ("close", "ensure_closed"):
        return link.state != "closed"
    if op.kind == "reopen":
        return link.state != "open"
    return op.kind == "comment"
