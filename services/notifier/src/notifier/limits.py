"""PagerDuty's limits per routing key: a token bucket and storm grouping, kept in PostgreSQL so
every replica shares them.

A trigger beyond `group_threshold` per routing key inside `group_window` is not paged on its
own: it joins the key's collecting storm, one alert ("N more incidents: ...") sent
`group_wait` later under its own dedup_key and resolved once every member is resolved. Each
grouped delivery is recorded (NotificationSent, transition "grouped"), never dropped.

Locks are taken in one order, deliveries -> pd_limits -> storms, so replicas never deadlock.
A token is taken when a delivery is claimed (the sender's tx A), just before its vendor call
outside the transaction, so sends start at most at the bucket's rate.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
from prometheus_client import Counter

from . import domain, payloads
from .adapters import Outcome
from .adapters.pagerduty import PagerDuty, routing_key
from .settings import Settings

log = logging.getLogger(__name__)
STORMS = Counter("notifier_storm_events_total", "Storm grouping by outcome", ["outcome"])


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["send", "defer", "grouped"]
    storm_id: int | None = None


@dataclass(slots=True)
class Bucket:
    key_hash: str
    tokens: float
    window_start: datetime
    window_count: int


def key_hash(key: str) -> str:
    """Routing keys are secrets: tables hold only this."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Limits:
    def __init__(self, schema: str, settings: Settings, pagerduty: PagerDuty):
        self.s = schema
        self.settings = settings
        self.cfg = settings.notifier.pagerduty
        self.pagerduty = pagerduty

    async def gate(self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime) -> Verdict:
        """Decide a claimed PagerDuty delivery: send it now, later, or as part of a storm."""
        key = routing_key(self.settings, row["sink"], row["team"])
        if key is None:
            return Verdict("send")  # the adapter records the missing key as a failure
        if row["transition"] != "trigger":
            storm_id = await self._storm_of(conn, row)
            if storm_id is not None:
                await self._member_follows(conn, storm_id, row, now)
                return await self._mark_grouped(conn, row, storm_id)
        bucket = await self.bucket(conn, key_hash(key.get_secret_value()), now)
        if row["transition"] == "trigger" and bucket.window_count >= self.cfg.group_threshold:
            await self.save(conn, bucket, now)
            storm_id = await self._join(conn, bucket.key_hash, row, now)
            STORMS.labels("grouped").inc()
            return await self._mark_grouped(conn, row, storm_id)
        if not self.take(bucket):
            await self.save(conn, bucket, now)
            await conn.execute(
                f"UPDATE {self.s}.deliveries SET due_at = $2 WHERE seq = $1",
                row["seq"],
                now + self.wait_for_token(bucket),
            )
            return Verdict("defer")
        if row["transition"] == "trigger":
            bucket.window_count += 1
        await self.save(conn, bucket, now)
        return Verdict("send")

    async def bucket(self, conn: asyncpg.Connection, h: str, now: datetime) -> Bucket:
        """Lock the key's row, refilled to `now`, with its grouping window rolled over."""
        cap, rate = self.cfg.bucket()
        await conn.execute(
            f"INSERT INTO {self.s}.pd_limits (key_hash, tokens, refilled_at, window_start) "
            "VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING",
            h,
            cap,
            now,
        )
        r = await conn.fetchrow(
            f"SELECT * FROM {self.s}.pd_limits WHERE key_hash = $1 FOR UPDATE", h
        )
        elapsed = max((now - r["refilled_at"]).total_seconds(), 0.0)
        b = Bucket(h, min(cap, r["tokens"] + elapsed * rate), r["window_start"], r["window_count"])
        if now - b.window_start >= self.cfg.group_window:
            b.window_start, b.window_count = now, 0
        return b

    def take(self, b: Bucket) -> bool:
        if b.tokens < 1.0:
            return False
        b.tokens -= 1.0
        return True

    def wait_for_token(self, b: Bucket) -> timedelta:
        _, rate = self.cfg.bucket()
        return timedelta(seconds=(1.0 - b.tokens) / rate + 0.01)

    async def save(self, conn: asyncpg.Connection, b: Bucket, now: datetime) -> None:
        # refilled_at only moves forward, so a replica with a lagging clock mints no tokens
        await conn.execute(
            f"UPDATE {self.s}.pd_limits SET tokens = $2, refilled_at = greatest(refilled_at, $3), "
            "window_start = $4, window_count = $5 WHERE key_hash = $1",
            b.key_hash,
            b.tokens,
            now,
            b.window_start,
            b.window_count,
        )

    async def _storm_of(self, conn: asyncpg.Connection, row: asyncpg.Record) -> int | None:
        """The storm this cycle's trigger was grouped into, if it was."""
        value: int | None = await conn.fetchval(
            f"SELECT storm_id FROM {self.s}.deliveries WHERE idempotency_key = $1 "
            "AND status = 'grouped'",
            domain.key(row["incident_id"], row["cycle"], "trigger", row["sink"]),
        )
        return value

    async def _join(
        self, conn: asyncpg.Connection, h: str, row: asyncpg.Record, now: datetime
    ) -> int:
        storm_id: int = await conn.fetchval(
            f"INSERT INTO {self.s}.storms (key_hash, sink, team, due_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (key_hash) WHERE status = 'collecting' "
            "DO UPDATE SET key_hash = excluded.key_hash RETURNING id",
            h,
            row["sink"],
            row["team"],
            now + self.cfg.group_wait,
        )
        snap = row["snapshot"] or {}
        await conn.execute(
            f"INSERT INTO {self.s}.storm_members (storm_id, incident_id, cycle, sink, severity, "
            "summary) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            storm_id,
            row["incident_id"],
            row["cycle"],
            row["sink"],
            str(snap.get("severity") or "sev1"),
            str(snap.get("summary") or f"incident {row['incident_id']}")[:300],
        )
        return storm_id

    async def _member_follows(
        self, conn: asyncpg.Connection, storm_id: int, row: asyncpg.Record, now: datetime
    ) -> None:
        """A grouped incident's acknowledge is folded in; its resolve counts towards the
        storm's, queued once the last member is resolved (storm row locked: one decides)."""
        status = await conn.fetchval(
            f"SELECT status FROM {self.s}.storms WHERE id = $1 FOR UPDATE", storm_id
        )
        if row["transition"] != "resolve":
            return
        await conn.execute(
            f"UPDATE {self.s}.storm_members SET resolved = true WHERE storm_id = $1 "
            "AND incident_id = $2 AND cycle = $3 AND sink = $4",
            storm_id,
            row["incident_id"],
            row["cycle"],
            row["sink"],
        )
        if status == "triggered" and await self.all_resolved(conn, storm_id):
            await conn.execute(
                f"UPDATE {self.s}.storms SET status = 'resolving', due_at = $2 WHERE id = $1",
                storm_id,
                now,
            )

    async def all_resolved(self, conn: asyncpg.Connection, storm_id: int) -> bool:
        return bool(
            await conn.fetchval(
                f"SELECT NOT EXISTS (SELECT 1 FROM {self.s}.storm_members "
                "WHERE storm_id = $1 AND NOT resolved)",
                storm_id,
            )
        )

    async def _mark_grouped(
        self, conn: asyncpg.Connection, row: asyncpg.Record, storm_id: int
    ) -> Verdict:
        await conn.execute(
            f"UPDATE {self.s}.deliveries SET status = 'grouped', storm_id = $2, done_at = now() "
            "WHERE seq = $1",
            row["seq"],
            storm_id,
        )
        return Verdict("grouped", storm_id)

    async def post_storm(self, storm: asyncpg.Record, members: list[asyncpg.Record]) -> Outcome:
        """The storm's trigger (while collecting) or resolve (once every member resolved)."""
        key = routing_key(self.settings, storm["sink"], storm["team"])
        if key is None:
            return Outcome(False, None, f"no PagerDuty routing key for team {storm['team']!r}")
        body = payloads.pagerduty_storm(
            routing_key=key.get_secret_value(),
            action="trigger" if storm["status"] == "collecting" else "resolve",
            storm_id=storm["id"],
            members=[(m["incident_id"], m["severity"], m["summary"]) for m in members],
            console_url=self.settings.console_url,
        )
        return await self.pagerduty.post(body, payloads.storm_dedup_key(storm["id"]))
