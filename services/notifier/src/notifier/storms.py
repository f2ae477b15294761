"""Sends storm alerts: a collecting storm's trigger once its group_wait is over, a storm's
resolve once every member is resolved; within the routing key's token bucket."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from .adapters import Outcome
from .limits import STORMS, Limits
from .sender import backoff
from .service import NotifierService, utcnow

log = logging.getLogger(__name__)


class StormSender:
    def __init__(self, service: NotifierService, limits: Limits):
        self.service = service
        self.limits = limits
        self.s = service.store.s

    async def send_one(self, now: datetime | None = None) -> bool:
        """Send the next due storm event; False when none is due."""
        now = now or utcnow()
        async with self.service.pool.acquire() as conn, conn.transaction():
            due = await conn.fetchrow(
                f"SELECT id, key_hash FROM {self.s}.storms WHERE status IN "
                "('collecting', 'resolving') AND due_at <= $1 ORDER BY due_at LIMIT 1",
                now,
            )
            if due is None:
                return False
            # the key's bucket first (the lock order every sender keeps), then the storm
            bucket = await self.limits.bucket(conn, due["key_hash"], now)
            storm = await conn.fetchrow(
                f"SELECT * FROM {self.s}.storms WHERE id = $1 AND status IN "
                "('collecting', 'resolving') AND due_at <= $2 FOR UPDATE SKIP LOCKED",
                due["id"],
                now,
            )
            if storm is None:
                return True  # another replica sent it meanwhile
            if not self.limits.take(bucket):
                await self.limits.save(conn, bucket, now)
                await conn.execute(
                    f"UPDATE {self.s}.storms SET due_at = $2 WHERE id = $1",
                    storm["id"],
                    now + self.limits.wait_for_token(bucket),
                )
                return True
            await self.limits.save(conn, bucket, now)
            members = await conn.fetch(
                f"SELECT incident_id, severity, summary FROM {self.s}.storm_members "
                "WHERE storm_id = $1 ORDER BY incident_id",
                storm["id"],
            )
            outcome = await self.limits.post_storm(storm, list(members))
            await self._record(conn, storm, len(members), outcome)
            return True

    async def _record(
        self, conn: asyncpg.Connection, storm: asyncpg.Record, count: int, outcome: Outcome
    ) -> None:
        action = "trigger" if storm["status"] == "collecting" else "resolve"
        attempts = storm["attempts"] + 1
        retry = self.service.settings.notifier.pagerduty.retry
        if outcome.ok:
            after = "resolved"
            if action == "trigger":
                done = await self.limits.all_resolved(conn, storm["id"])
                after = "resolving" if done else "triggered"
            await conn.execute(
                f"UPDATE {self.s}.storms SET status = $2, attempts = 0, status_code = $3, "
                "last_error = NULL, due_at = now(), done_at = now() WHERE id = $1",
                storm["id"],
                after,
                outcome.status_code,
            )
            STORMS.labels(f"{action}_sent").inc()
            log.info("storm %s %s sent for %d incidents", storm["id"], action, count)
        elif outcome.retryable and attempts < retry.max_attempts:
            delay = backoff(attempts, retry, outcome.retry_after_s)
            await conn.execute(
                f"UPDATE {self.s}.storms SET attempts = $2, due_at = $3, status_code = $4, "
                "last_error = $5 WHERE id = $1",
                storm["id"],
                attempts,
                utcnow() + timedelta(seconds=delay),
                outcome.status_code,
                outcome.detail[:2000],
            )
            STORMS.labels(f"{action}_retry").inc()
        else:
            await conn.execute(
                f"UPDATE {self.s}.storms SET status = 'failed', attempts = $2, status_code = $3, "
                "last_error = $4, done_at = now() WHERE id = $1",
                storm["id"],
                attempts,
                outcome.status_code,
                outcome.detail[:2000],
            )
            STORMS.labels(f"{action}_failed").inc()
            log.error(
                "storm %s %s for %d incidents failed: %s %s",
                storm["id"],
                action,
                count,
                outcome.status_code,
                outcome.detail[:500],
            )
