"""Delivers recorded sends: one row at a time, locked while its vendor call runs.

The row lock (FOR UPDATE SKIP LOCKED) means two replicas never send the same row; the row
is marked done in the same transaction as its NotificationSent/Failed event. A crash after
the vendor accepted but before the commit leaves the row pending, so it is sent once more
after restart (PagerDuty folds it into the same alert by dedup_key).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import asyncpg
from interventions_events.notifications import NotificationFailed, NotificationSent
from interventions_platform import tracing
from prometheus_client import Counter

from . import payloads
from .adapters import Outcome, Outgoing, Sink
from .limits import Limits
from .service import NotifierService, utcnow
from .settings import Retry

log = logging.getLogger(__name__)
SENT = Counter(
    "notifier_deliveries_total", "Delivery attempts by sink and outcome", ["sink", "outcome"]
)


def backoff(
    attempt: int, retry: Retry, retry_after_s: float | None, rand: random.Random | None = None
) -> float:
    """Exponential back-off with full jitter; never sooner than the vendor's Retry-After."""
    base = retry.backoff_base.total_seconds() * 2 ** max(attempt - 1, 0)
    capped = min(base, retry.backoff_max.total_seconds())
    delay = capped * (0.5 + 0.5 * (rand or random).random())
    return float(max(delay, retry_after_s or 0.0))


class Sender:
    def __init__(
        self, service: NotifierService, sinks: dict[str, Sink], limits: Limits | None = None
    ):
        self.service = service
        self.sinks = sinks
        self.limits = limits
        self.s = service.store.s
        self._claim = f"""
            SELECT d.*, t.team, t.slack_ts FROM {self.s}.deliveries d
            JOIN {self.s}.tracked t USING (incident_id)
            WHERE d.status = 'pending' AND d.due_at <= $1
              AND NOT EXISTS (SELECT 1 FROM {self.s}.deliveries e
                              WHERE e.incident_id = d.incident_id AND e.sink = d.sink
                                AND e.status = 'pending' AND e.seq < d.seq)
            ORDER BY d.due_at, d.seq LIMIT 1 FOR UPDATE OF d SKIP LOCKED
        """

    async def send_one(self, now: datetime | None = None) -> bool:
        """Send the next due row (earlier rows of the same incident and sink first)."""
        now = now or utcnow()
        async with self.service.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(self._claim, now)
            if row is None:
                return False
            if self.limits is not None and row["sink"].startswith("pagerduty"):
                verdict = await self.limits.gate(conn, row, now)
                if verdict.action == "defer":
                    return True
                if verdict.action == "grouped":
                    event = _grouped(row, payloads.storm_dedup_key(verdict.storm_id or 0))
                    await self.service.outbox.add(conn, [self.service.message(event)])
                    return True
            out = Outgoing(
                row["incident_id"],
                row["sink"],
                row["transition"],
                row["headline"],
                row["snapshot"],
                row["team"],
                row["slack_ts"],
            )
            # the vendor call's span joins the trace the delivery was queued in
            with tracing.continued(row["traceparent"]):
                outcome = await self.sinks[row["sink"].partition(":")[0]].send(out)
            await self._record(conn, row, outcome)
            return True

    async def _record(
        self, conn: asyncpg.Connection, row: asyncpg.Record, outcome: Outcome
    ) -> None:
        attempts = row["attempts"] + 1
        retry = self._retry(row["sink"])
        if not outcome.ok and outcome.retryable and attempts < retry.max_attempts:
            delay = backoff(attempts, retry, outcome.retry_after_s)
            await conn.execute(
                f"UPDATE {self.s}.deliveries SET attempts = $2, due_at = $3, status_code = $4, "
                "last_error = $5 WHERE seq = $1",
                row["seq"],
                attempts,
                utcnow() + timedelta(seconds=delay),
                outcome.status_code,
                outcome.detail,
            )
            SENT.labels(row["sink"], "retry").inc()
            log.warning(
                "%s %s for incident %s: %s %s, retry %d in %.2fs",
                row["sink"],
                row["transition"],
                row["incident_id"],
                outcome.status_code,
                outcome.detail[:200],
                attempts,
                delay,
            )
            return
        status = "sent" if outcome.ok else "failed"
        await conn.execute(
            f"UPDATE {self.s}.deliveries SET attempts = $2, status = $3, status_code = $4, "
            "last_error = $5, done_at = now() WHERE seq = $1",
            row["seq"],
            attempts,
            status,
            outcome.status_code,
            None if outcome.ok else outcome.detail,
        )
        if outcome.ok and outcome.ref and row["sink"] == "slack" and row["transition"] == "trigger":
            await conn.execute(
                f"UPDATE {self.s}.tracked SET slack_ts = $2 WHERE incident_id = $1",
                row["incident_id"],
                outcome.ref,
            )
        SENT.labels(row["sink"], status).inc()
        await self.service.outbox.add(conn, [self.service.message(_event(row, outcome, attempts))])

    def _retry(self, sink: str) -> Retry:
        cfg = self.service.settings.notifier
        return cfg.slack.retry if sink == "slack" else cfg.pagerduty.retry


def _grouped(row: asyncpg.Record, storm_key: str) -> NotificationSent:
    """A delivery folded into a storm alert: recorded, with the storm's dedup_key as target."""
    transition = row["transition"]
    return NotificationSent(
        incident_id=row["incident_id"],
        at=utcnow(),
        sink=row["sink"],
        transition="grouped" if transition == "trigger" else f"grouped-{transition}",
        idempotency_key=row["idempotency_key"],
        target=storm_key,
        status_code=None,
        attempts=0,
    )


def _event(
    row: asyncpg.Record, outcome: Outcome, attempts: int
) -> NotificationSent | NotificationFailed:
    common = dict(
        incident_id=row["incident_id"],
        at=utcnow(),
        sink=row["sink"],
        transition=row["transition"],
        idempotency_key=row["idempotency_key"],
        status_code=outcome.status_code,
        attempts=attempts,
    )
    if outcome.ok:
        return NotificationSent(**common, target=outcome.target)
    log.error(
        "%s %s for incident %s failed: %s %s",
        row["sink"],
        row["transition"],
        row["incident_id"],
        outcome.status_code,
        outcome.detail[:500],
    )
    return NotificationFailed(
        **common, error=outcome.detail or "failed", retryable=outcome.retryable
    )
