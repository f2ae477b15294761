"""Runs one chaos scenario: load and faults together, wait for recovery, check every oracle,
and record a row of the `make chaos` table."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from interventions_events import topics

from . import oracles
from .chaos import Sent, Stack, TopicTap, read_whole


@dataclass
class Row:
    scenario: str
    load: str
    faults: str
    sent: int
    decisions: int
    duplicates: int
    losses: int
    recovery_s: float
    problems: list[str]
    resent: int = 0


ROWS: list[Row] = []
HEADER = (
    "scenario",
    "load",
    "faults injected",
    "sent",
    "decisions",
    "dup",
    "lost",
    "resent same key",
    "recovery",
    "problems",
)


def table(rows: list[Row]) -> str:
    """The `make chaos` table, one line per scenario."""
    lines = [" | ".join(HEADER)]
    for r in rows:
        cells = (
            r.scenario,
            r.load,
            r.faults,
            str(r.sent),
            str(r.decisions),
            str(r.duplicates),
            str(r.losses),
            str(r.resent),
            f"{r.recovery_s:.1f}s",
            "; ".join(r.problems) or "none",
        )
        lines.append(" | ".join(cells))
    return "\n".join(lines)


# 'sending' too: a delivery whose connection died between the vendor's answer and its commit
# is re-sent when its lease ends; settling before that counted the resend in the next
# scenario (seen once: the CI subset's lock scenario charged with the connection kills' resend)
BACKLOG = """
SELECT (SELECT count(*) FROM incidents.outbox)
     + (SELECT count(*) FROM notifier.deliveries WHERE status IN ('pending', 'sending'))
     + (SELECT count(*) FROM notifier.storms WHERE status IN ('collecting', 'resolving'))
"""


async def settle(stack: Stack, limit_s: float = 60.0, quiet: float = 2.0) -> None:
    """Until the outbox is drained and no vendor saw a request for `quiet` seconds."""
    deadline = time.monotonic() + limit_s
    last = (-1, -1, -1)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(stack.database_url)
            try:
                # unsent outbox rows, due, deferred or uncertain pages, storms still collecting
                backlog = int(await conn.fetchval(BACKLOG))
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            backlog = -1
        now = (len(stack.pagerduty.calls), len(stack.slack.calls), len(stack.github.calls))
        if now != last or backlog != 0:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            return
        await asyncio.sleep(0.3)


async def verify(stack: Stack, tap: TopicTap, since: int, acked: dict[str, str]) -> oracles.Verdict:
    """Every oracle over the whole stack (the relay's over this scenario's events: those
    after `since`, which `tap` followed); duplicates count decisions and effects."""
    v = oracles.Verdict()
    conn = await oracles.connect(stack.database_url)
    try:
        await oracles.check_decisions(conn, acked, v)
        await oracles.check_versions(conn, v)
        await oracles.check_episodes(conn, v)
        await oracles.check_relay(
            conn,
            since,
            tap.values(topics.INCIDENTS),
            v,
            reread=lambda: read_whole(stack.bootstrap, stack.prefix, topics.INCIDENTS),
        )
        await oracles.check_read_model(conn, v)
        paged = await oracles.paged_incidents(conn)
        queued = await oracles.queued_ticket_creates(conn)  # paced: late, not lost
    finally:
        await conn.close()
    effects = {
        "PagerDuty trigger resent": oracles.check_pages(stack.pagerduty.calls, paged, v),
        "duplicate ticket": oracles.check_tickets(stack.github.issues, paged, v, queued),
        "duplicate Slack message": oracles.check_slack([m.body for m in stack.slack.snapshot()], v),
    }
    oracles.check_vendor_rate_limits(stack.github, v)  # tickets within GitHub's limits
    for what, total in effects.items():  # effects are cumulative: judge this scenario's share
        new = total - stack.effect_dups.get(what, 0)
        stack.effect_dups[what] = total
        if new > 0:
            # a trigger resent under its dedup_key is folded by PagerDuty into the same alert:
            # one effect, sent twice (counted apart); a second Slack message or ticket is a
            # second effect. Both stay problems: a scenario must name them to tolerate them.
            if what == "PagerDuty trigger resent":
                v.resent += new
            else:
                v.duplicates += new
            v.problems.append(f"{new} {what}")
    return v


def summary(faults: list[str]) -> str:
    """Faults in order, a run of the same one as `name xN`."""
    runs: list[list[Any]] = []
    for f in faults:
        if runs and runs[-1][0] == f:
            runs[-1][1] += 1
        else:
            runs.append([f, 1])
    return ", ".join(f if n == 1 else f"{f} x{n}" for f, n in runs) or "none"


def republished(tap: TopicTap) -> int:
    """Records the tap read more than once by event id: the relay sent them again after
    a crash between publishing and moving its cursor (0 if the tap was rewound)."""
    if tap.rewinds:
        return 0
    ids = Counter(orjson.loads(v).get("id") for v in tap.values("incidents"))
    return sum(n - 1 for n in ids.values() if n > 1)


async def _last_position(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await oracles.last_position(conn)
    finally:
        await conn.close()


async def run_scenario(
    stack: Stack,
    name: str,
    load: str,
    traffic: Awaitable[Sent],
    faults: Awaitable[object],
    *,
    recovery_timeout: float = 120.0,
) -> Row:
    """Run traffic and faults concurrently, then recover, settle and check the oracles.
    The relay oracle reads a tap of the incidents topic opened for this scenario alone,
    before its first commit (the tap first, then the log position)."""
    first_fault = len(stack.faults)
    tap = await stack.tap(["incidents"])
    try:
        since = await _last_position(stack)
        sent_task = asyncio.ensure_future(traffic)
        await faults
        sent = await sent_task
        await stack.wait_ready()
        recovery = await oracles.wait_decided(stack.database_url, sent.acked, recovery_timeout)
        await settle(stack)
        await tap.caught_up()
        v = await verify(stack, tap, since, sent.acked)
        again = republished(tap)
    finally:
        await stack.untap(tap)
    faults_seen = summary(stack.faults[first_fault:])
    if again:  # only the relay publishes there: it died between its acks and its cursor
        faults_seen += f" ({again} incident records republished)"
    row = Row(
        name,
        load,
        faults_seen,
        len(sent.acked),
        v.decisions,
        v.duplicates,
        v.losses,
        recovery,
        v.problems,
        v.resent,
    )
    ROWS.append(row)
    return row
