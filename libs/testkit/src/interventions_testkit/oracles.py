"""Oracles checked after every chaos scenario (docs/RELIABILITY.md): decisions per signal,
one incident per key per episode, contiguous versions, effects once per idempotency key, a
relay that skipped nothing, and a read model equal to a rebuild from the log."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from incidents.domain import Incident, evolve, parse_event
from incidents.readmodel import ReadModel, _fold_all
from interventions_eventstore import ident
from issue_sync.domain import marker
from notifier.payloads import dedup_key
from watcher.domain import detection_id

SCHEMA = "incidents"
log = logging.getLogger(__name__)


@dataclass
class Verdict:
    """What one scenario's oracles found; `problems` empty means every oracle held."""

    decisions: int = 0
    duplicates: int = 0  # decisions twice, and effects twice under no common idempotency key
    resent: int = 0  # a vendor call made again under the same idempotency key (folded)
    losses: int = 0
    problems: list[str] = field(default_factory=list)


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection that decodes json/jsonb like the services' pools do."""
    conn = await asyncpg.connect(dsn)
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ,
            schema="pg_catalog",
            format="text",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )
    return conn


def expected_detections(acked: Mapping[str, str]) -> dict[str, str]:
    """detection id -> signal id for failing-invariant signals (watcher ids are uuid5)."""
    return {detection_id(sid, f"INV_{inv}", "InvariantViolated"): sid for sid, inv in acked.items()}


async def decision_counts(conn: asyncpg.Connection) -> Counter[str]:
    rows = await conn.fetch(
        f"SELECT data->>'detection_id' AS d, count(*) AS n FROM {SCHEMA}.events "
        "WHERE type = 'DetectionDecided' GROUP BY 1"
    )
    return Counter({r["d"]: int(r["n"]) for r in rows})


async def wait_decided(
    dsn: str, acked: Mapping[str, str], limit_s: float, poll: float = 0.5
) -> float:
    """Seconds until every acknowledged signal has a decision (or the timeout passes)."""
    wanted = set(expected_detections(acked))
    started = time.monotonic()
    conn: asyncpg.Connection | None = None
    while time.monotonic() - started < limit_s:
        try:
            conn = conn or await connect(dsn)
            if wanted <= set(await decision_counts(conn)):
                break
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn = None  # the database may be restarting
        await asyncio.sleep(poll)
    if conn is not None:
        await conn.close()
    return time.monotonic() - started


async def check_decisions(conn: asyncpg.Connection, acked: Mapping[str, str], v: Verdict) -> None:
    """Every acknowledged signal has exactly one recorded decision."""
    counts = await decision_counts(conn)
    expected = expected_detections(acked)
    v.decisions = sum(counts[d] for d in expected)
    v.losses = sum(1 for d in expected if counts[d] == 0)
    v.duplicates = sum(counts[d] - 1 for d in expected if counts[d] > 1)
    doubled = [d for d, n in counts.items() if n > 1]
    if v.losses:
        v.problems.append(f"{v.losses} acknowledged signal(s) have no decision")
    if doubled:
        v.problems.append(f"{len(doubled)} detection(s) decided more than once: {doubled[:3]}")


async def check_versions(conn: asyncpg.Connection, v: Verdict) -> None:
    """Per-stream versions are 1..n with no gap."""
    rows = await conn.fetch(
        f"SELECT stream_id, min(stream_version) lo, max(stream_version) hi, count(*) n "
        f"FROM {SCHEMA}.events GROUP BY stream_id "
        "HAVING min(stream_version) <> 1 OR max(stream_version) <> count(*)"
    )
    if rows:
        v.problems.append(f"{len(rows)} stream(s) with gaps: {[r['stream_id'] for r in rows[:3]]}")


async def check_episodes(conn: asyncpg.Connection, v: Verdict) -> None:
    """Replaying the log in commit order, no incident opens while its key has an active one."""
    state: dict[str, Incident] = {}
    active: dict[str, int] = {}
    rows = await conn.fetch(
        f"SELECT stream_id, type, data FROM {SCHEMA}.events "
        "WHERE stream_id LIKE 'incident-%' ORDER BY global_position"
    )
    for r in rows:
        sid = r["stream_id"]
        new = evolve(state.get(sid), parse_event(r["type"], r["data"]))
        if r["type"] == "IncidentOpened" and active.get(new.key, new.id) != new.id:
            v.problems.append(f"{new.key}: incident {new.id} opened while {active[new.key]} active")
        if new.active:
            active[new.key] = new.id
        elif active.get(new.key) == new.id:
            del active[new.key]
        state[sid] = new
    live = await conn.fetch(
        f"SELECT key, count(*) n FROM {SCHEMA}.incidents "
        "WHERE status IN ('open', 'acknowledged', 'mitigated') GROUP BY key HAVING count(*) > 1"
    )
    if live:
        v.problems.append(f"keys with several active incidents: {[r['key'] for r in live]}")


async def check_read_model(conn: asyncpg.Connection, v: Verdict) -> None:
    """The live read model hashes the same as a rebuild from the log (rolled back after)."""
    rm = ReadModel(SCHEMA)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"LOCK TABLE {SCHEMA}.incidents, {SCHEMA}.keys IN EXCLUSIVE MODE")
        live = await rm.content_hash(conn)
        await conn.execute(f"DELETE FROM {SCHEMA}.incidents")
        await conn.execute(f"DELETE FROM {SCHEMA}.keys")
        total = int(await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.events"))
        incidents, keys = await _fold_all(conn, SCHEMA, total, None, 5000)
        await rm.save(conn, incidents.values())
        await rm.save_keys(conn, keys.values())
        rebuilt = await rm.content_hash(conn)
    finally:
        await tx.rollback()
    if live != rebuilt:
        v.problems.append("the read model differs from a rebuild of the event log")


async def last_position(conn: asyncpg.Connection) -> int:
    """The log's last global position: a scenario's events are those after it."""
    return int(
        await conn.fetchval(f"SELECT coalesce(max(global_position), 0) FROM {SCHEMA}.events")
    )


def relay_gaps(
    committed: Iterable[str], unpublished: Iterable[str], published: Iterable[bytes]
) -> tuple[list[str], list[str]]:
    """Of the `committed` incident event ids, those the relay skipped (gone from the outbox,
    so recorded as published, yet on no record of the topic) and those still pending (still
    in the outbox: not published yet, which is no skip)."""
    seen = {orjson.loads(raw).get("id") for raw in published}
    pending = set(unpublished)
    skipped = [e for e in committed if e not in seen and e not in pending]
    waiting = [e for e in committed if e not in seen and e in pending]
    return skipped, waiting


async def check_relay(
    conn: asyncpg.Connection,
    since: int,
    published: Iterable[bytes],
    v: Verdict,
    reread: Callable[[], Awaitable[list[bytes]]] | None = None,
) -> None:
    """Every incident event committed after position `since` that the relay recorded as
    published is on the incidents topic (`published`: what a tap read from it since before
    the first of those commits), and nothing is left unpublished. Events the tap did not
    see are looked for again in the whole topic (`reread`): found there, the tap missed
    them and the relay skipped nothing (logged, not a problem)."""
    rows = await conn.fetch(
        f"SELECT event_id FROM {SCHEMA}.events "
        "WHERE stream_id LIKE 'incident-%' AND global_position > $1",
        since,
    )
    outbox = await conn.fetch(f"SELECT value FROM {SCHEMA}.outbox")
    unpublished = {str(orjson.loads(r["value"]).get("id")) for r in outbox}
    committed = [str(r["event_id"]) for r in rows]
    skipped, waiting = relay_gaps(committed, unpublished, published)
    if skipped and reread is not None:
        again = await reread()
        still, _ = relay_gaps(skipped, unpublished, again)
        if len(still) < len(skipped):
            log.warning(
                "the tap missed %d incident record(s) that a fresh read of the topic found",
                len(skipped) - len(still),
            )
        skipped = still
    if skipped:
        v.problems.append(f"the relay skipped {len(skipped)} committed event(s): {skipped[:3]}")
    if waiting:
        v.problems.append(f"{len(waiting)} committed event(s) never published: {waiting[:3]}")


async def paged_incidents(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch(
        f"SELECT id FROM {SCHEMA}.incidents WHERE severity IN ('sev1', 'sev2') ORDER BY id"
    )
    return [int(r["id"]) for r in rows]


def check_pages(calls: Iterable[Any], incidents: list[int], v: Verdict, per_min: int = 120) -> int:
    """Every sev1/sev2 incident paged, under its own dedup key or as a member of a storm
    alert (custom_details.incident_ids), and PagerDuty's rate limit kept; returns the
    triggers sent again for a dedup key (PagerDuty folds them into the same alert, so they
    are resends, not new pages)."""
    accepted = [c for c in calls if c.status == 202]
    fired = [c.body for c in accepted if c.body["event_action"] == "trigger"]
    triggers = Counter(b["dedup_key"] for b in fired)
    grouped = {
        int(i)
        for b in fired
        if str(b["dedup_key"]).startswith("interventions-storm-")
        for i in b["payload"].get("custom_details", {}).get("incident_ids", [])
    }
    unpaged = [i for i in incidents if dedup_key(i) not in triggers and i not in grouped]
    if unpaged:
        v.problems.append(f"{len(unpaged)} sev1/sev2 incident(s) never paged: {unpaged[:5]}")
    peak = max_per_window([c.at for c in accepted], 60.0)
    if peak > per_min:
        v.problems.append(f"{peak} PagerDuty events in one minute (limit {per_min})")
    return sum(n - 1 for n in triggers.values() if n > 1)


def check_tickets(
    issues: Mapping[int, Any],
    incidents: list[int],
    v: Verdict,
    queued: Iterable[int] = (),
) -> int:
    """One GitHub issue per incident (by marker); returns the number of duplicates.

    An incident whose create op is still pending in issue-sync's durable queue (`queued`,
    see `queued_ticket_creates`: paced or waiting out a rate limit) is covered, not lost:
    nothing is dropped silently, it is only late."""
    found = [
        re.findall(re.escape(marker(0)[:-1]) + r"(\d+)", issue.body) for issue in issues.values()
    ]
    per = Counter(int(ids[0]) for ids in found if ids)
    dup = sum(n - 1 for n in per.values() if n > 1)
    pending = set(queued)
    missing = [i for i in incidents if per[i] == 0 and i not in pending]
    if missing:
        v.problems.append(f"{len(missing)} sev1/sev2 incident(s) without a ticket: {missing[:5]}")
    return dup


async def queued_ticket_creates(conn: asyncpg.Connection, schema: str = "issue_sync") -> set[int]:
    """Incidents whose ticket create op is still pending in issue-sync's queue."""
    rows = await conn.fetch(
        f"SELECT incident_id FROM {ident(schema)}.ops WHERE kind = 'open' AND status = 'pending'"
    )
    return {int(r["incident_id"]) for r in rows}


def check_vendor_rate_limits(standin: Any, v: Verdict, *, window: float = 60.0) -> None:
    """The tracker stand-in never had to answer a rate-limit error (403/429): the pacing kept
    every content-creating burst under the vendor's documented limit."""
    limited = [c for c in standin.calls if c.status in (403, 429)]
    if limited:
        v.problems.append(
            f"{type(standin).__name__} answered {len(limited)} rate-limit/forbidden error(s), "
            f"first {limited[0].method} {limited[0].path}"
        )
    limit = getattr(standin, "secondary_limit", None)
    writes = getattr(standin, "writes", None)
    if limit is not None and writes is not None:
        peak = max_per_window(writes, window)
        if peak > limit:
            v.problems.append(f"{peak} content-creating requests in {window:.0f}s > {limit}")


def check_slack(bodies: Iterable[dict[str, Any]], v: Verdict) -> int:
    """No Slack message posted twice: per idempotency key where the message metadata
    carries one (bot mode), else per identical content; returns the duplicates."""
    counts = Counter(_slack_identity(b) for b in bodies)
    return sum(n - 1 for n in counts.values() if n > 1)


def _slack_identity(body: dict[str, Any]) -> bytes:
    meta = body.get("metadata")
    payload = meta.get("event_payload") if isinstance(meta, dict) else None
    key = payload.get("idempotency_key") if isinstance(payload, dict) else None
    if isinstance(key, str):
        return b"key:" + key.encode()
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def max_per_window(times: Iterable[float], window: float) -> int:
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
