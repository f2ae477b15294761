"""Delivers recorded sends in two phases, so no transaction is open across a vendor call.

Tx A claims the next due row (FOR UPDATE SKIP LOCKED, so two replicas never claim the same
row) and commits it `sending` with a fresh claim token and a lease. The vendor call runs
outside any transaction. Tx B records the outcome, fenced on the token (the row must still be
`sending` under that token), with its NotificationSent/Failed event. A row still `sending`
when its lease ends is uncertain (its sender died, or lost its connection before tx B) and
any replica claims it again: a Slack bot first reads the channel back for the message's
idempotency key (message metadata) and records the one it finds; a Slack webhook cannot read
back and resends (at least once); PagerDuty resends and folds it by dedup_key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from interventions_events.notifications import NotificationFailed, NotificationSent
from interventions_platform import tracing
from prometheus_client import Counter

from . import payloads
from .adapters import Outcome, Outgoing, Sink
from .limits import Limits
from .service import NotifierService, utcnow
from .settings import Retry

Row = Mapping[str, Any]
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
        cols = f"SELECT d.*, t.team, t.slack_ts FROM {self.s}.deliveries d JOIN {self.s}.tracked t "
        self._claim = f"""
            {cols} USING (incident_id)
            WHERE d.status = 'pending' AND d.due_at <= $1
              AND NOT EXISTS (SELECT 1 FROM {self.s}.deliveries e
                              WHERE e.incident_id = d.incident_id AND e.sink = d.sink
                                AND e.status IN ('pending', 'sending') AND e.seq < d.seq)
            ORDER BY d.due_at, d.seq LIMIT 1 FOR UPDATE OF d SKIP LOCKED
        """
        self._claim_uncertain = f"""
            {cols} USING (incident_id)
            WHERE d.status = 'sending' AND d.lease_until <= $1
            ORDER BY d.lease_until, d.seq LIMIT 1 FOR UPDATE OF d SKIP LOCKED
        """
        # SET sees the old row: an expired claim's start becomes the uncertain attempt's
        self._mark_sending = f"""
            UPDATE {self.s}.deliveries SET status = 'sending', claim_token = $2,
                sending_since = $3, lease_until = $4, attempts = attempts + 1,
                uncertain_since = CASE WHEN status = 'sending'
                    THEN coalesce(uncertain_since, sending_since) ELSE uncertain_since END
            WHERE seq = $1 RETURNING attempts, uncertain_since, sending_since
        """

    async def send_one(self, now: datetime | None = None) -> bool:
        """Send the next due row (earlier rows of the same incident and sink first)."""
        now = now or utcnow()
        claim = await self.claim(now)
        if claim is None:
            return False
        if isinstance(claim, bool):
            return claim
        row, token, out = claim
        outcome = await self.call(row, out)
        async with self.service.pool.acquire() as conn, conn.transaction():
            await self._record(conn, row, token, out, outcome)
        return True

    async def claim(self, now: datetime) -> tuple[Row, uuid.UUID, Outgoing] | bool | None:
        """Tx A: the next due row committed `sending` under a new claim token; True when a
        row was handled in the claim itself (deferred or storm-grouped), None when none is
        due."""
        async with self.service.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(self._claim_uncertain, now)
            if row is None:
                row = await conn.fetchrow(self._claim, now)
                if row is None:
                    return None
                if self.limits is not None and row["sink"].startswith("pagerduty"):
                    verdict = await self.limits.gate(conn, row, now)
                    if verdict.action == "defer":
                        return True
                    if verdict.action == "grouped":
                        event = _grouped(row, payloads.storm_dedup_key(verdict.storm_id or 0))
                        await self.service.outbox.add(conn, [self.service.message(event)])
                        return True
            token = uuid.uuid4()
            lease = self.service.settings.notifier.sender.lease(self._retry(row["sink"]))
            started = utcnow()
            claimed = await conn.fetchrow(
                self._mark_sending, row["seq"], token, started, started + lease
            )
        out = Outgoing(
            row["incident_id"],
            row["sink"],
            row["transition"],
            row["headline"],
            row["snapshot"],
            row["team"],
            row["slack_ts"],
            idempotency_key=row["idempotency_key"],
            uncertain_since=claimed["uncertain_since"],
        )
        return {**dict(row), **dict(claimed)}, token, out

    async def call(self, row: Row, out: Outgoing) -> Outcome:
        """The vendor step, outside any transaction, bounded so it ends inside the lease."""
        if out.uncertain_since is not None:
            log.warning(
                "%s %s for incident %s (%s): outcome of an earlier attempt unknown, %s",
                out.sink,
                out.transition,
                out.incident_id,
                out.idempotency_key,
                "looking it up before sending" if self._reads_back(out) else "resent",
            )
            SENT.labels(out.sink, "uncertain").inc()
        limit = self.service.settings.notifier.sender.work(self._retry(out.sink))
        # the vendor call's span joins the trace the delivery was queued in
        with tracing.continued(row["traceparent"]):
            try:
                return await asyncio.wait_for(
                    self.sinks[out.sink.partition(":")[0]].send(out), limit.total_seconds()
                )
            except TimeoutError:
                return Outcome(False, None, "vendor step timed out", retryable=True)

    def _reads_back(self, out: Outgoing) -> bool:
        return out.sink == "slack" and self.service.settings.slack_mode() == "bot"

    async def _record(
        self,
        conn: asyncpg.Connection,
        row: Row,
        token: uuid.UUID,
        out: Outgoing,
        outcome: Outcome,
    ) -> bool:
        """Tx B: the outcome, only if this claim still holds the row; False for a stale one."""
        attempts = row["attempts"]
        retry = self._retry(row["sink"])
        if not outcome.ok and outcome.retryable and attempts < retry.max_attempts:
            delay = backoff(attempts, retry, outcome.retry_after_s)
            # no answer (a transport error, a timeout): the request may have reached the vendor
            unknown = outcome.status_code is None
            done = await conn.execute(
                f"UPDATE {self.s}.deliveries SET status = 'pending', due_at = $3, "
                "status_code = $4, last_error = $5, claim_token = NULL, lease_until = NULL, "
                "uncertain_since = CASE WHEN $6 THEN coalesce(uncertain_since, sending_since) "
                "ELSE uncertain_since END "
                "WHERE seq = $1 AND status = 'sending' AND claim_token = $2",
                row["seq"],
                token,
                utcnow() + timedelta(seconds=delay),
                outcome.status_code,
                outcome.detail,
                unknown,
            )
            if not _held(done, row):
                return False
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
            return True
        status = "sent" if outcome.ok else "failed"
        done = await conn.execute(
            f"UPDATE {self.s}.deliveries SET status = $3, status_code = $4, last_error = $5, "
            "done_at = now(), claim_token = NULL, lease_until = NULL "
            "WHERE seq = $1 AND status = 'sending' AND claim_token = $2",
            row["seq"],
            token,
            status,
            outcome.status_code,
            None if outcome.ok else outcome.detail,
        )
        if not _held(done, row):
            return False
        if outcome.ok and outcome.ref and row["sink"] == "slack" and row["transition"] == "trigger":
            await conn.execute(
                f"UPDATE {self.s}.tracked SET slack_ts = $2 WHERE incident_id = $1",
                row["incident_id"],
                outcome.ref,
            )
        SENT.labels(row["sink"], status).inc()
        await self.service.outbox.add(conn, [self.service.message(_event(row, outcome, attempts))])
        return True

    def _retry(self, sink: str) -> Retry:
        cfg = self.service.settings.notifier
        return cfg.slack.retry if sink == "slack" else cfg.pagerduty.retry


def _held(done: str, row: Row) -> bool:
    """True when the fenced update hit the row; logs a stale claim (lease expired and the
    row claimed again meanwhile) whose outcome is dropped."""
    if done.endswith(" 1"):
        return True
    SENT.labels(row["sink"], "stale").inc()
    log.warning(
        "%s %s for incident %s: claim expired before its outcome was recorded; "
        "the newer claim decides",
        row["sink"],
        row["transition"],
        row["incident_id"],
    )
    return False


def _grouped(row: Row, storm_key: str) -> NotificationSent:
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


def _event(row: Row, outcome: Outcome, attempts: int) -> NotificationSent | NotificationFailed:
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
