"""A batch of incident events written in one transaction leaves the notifier's tables exactly
as the same events handled one at a time (timers cancelled after being scheduled in the same
batch, chat updates coalesced, a reopen's new cycle), against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from interventions_events import Envelope, Event
from interventions_events import incidents as ev
from interventions_eventstore import CORE, create_pool, migrate
from notifier.migrations import MIGRATIONS
from notifier.service import NotifierService
from notifier.settings import Settings, VendorEnv
from pydantic import SecretStr

from .support import Runtime

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
TEAM = "data-platform"


def _snap(i: int, status: str, version: int, severity: str = "sev1") -> dict[str, Any]:
    return {
        "id": i,
        "kind": "invariant",
        "key": f"INV_batch_{i}",
        "severity": severity,
        "status": status,
        "version": version,
        "summary": f"freshness {i}",
        "owner_team": TEAM,
    }


def _events() -> list[Envelope[Event]]:
    def at(s: int) -> datetime:
        return T0 + timedelta(seconds=s)

    def opened(i: int, s: int) -> ev.IncidentEvent:
        return ev.IncidentOpened(
            incident_id=i,
            at=at(s),
            kind="invariant",
            key=f"INV_batch_{i}",
            severity="sev1",
            summary=f"freshness {i}",
            owner_team=TEAM,
            detection_id=f"d{i}",
            rule="opened",
            incident=_snap(i, "open", 1),
        )

    data: list[ev.IncidentEvent] = [
        opened(1, 0),
        opened(2, 1),
        ev.IncidentEscalated(
            incident_id=1, at=at(2), by="bob", reason="x", incident=_snap(1, "open", 2)
        ),
        ev.IncidentAcknowledged(
            incident_id=1, at=at(3), by="al", incident=_snap(1, "acknowledged", 3)
        ),
        ev.SeverityChanged(
            incident_id=2,
            at=at(4),
            by="al",
            from_severity="sev2",
            to_severity="sev1",
            reason="worse",
            incident=_snap(2, "open", 2),
        ),
        ev.IncidentResolved(incident_id=1, at=at(5), by="al", incident=_snap(1, "resolved", 4)),
        ev.IncidentReopened(incident_id=1, at=at(6), by="al", incident=_snap(1, "open", 5)),
        opened(3, 7),
    ]
    return [Envelope(source="test/incidents", data=d) for d in data]


async def _state(conn: asyncpg.Connection, s: str) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "tracked": f"SELECT incident_id, cycle, severity, status, snapshot, told FROM {s}.tracked",
        "timers": f"SELECT incident_id, cycle, kind, name, due_at, payload, status FROM {s}.timers",
        "deliveries": f"SELECT idempotency_key, incident_id, cycle, sink, transition, headline, "
        f"snapshot, status, due_at FROM {s}.deliveries",
        "sse": f"SELECT position, event, data FROM {s}.sse_log",
    }
    return {k: sorted(tuple(r) for r in await conn.fetch(q)) for k, q in queries.items()}


async def test_one_batch_writes_what_the_same_events_one_at_a_time_write(
    database_url: str,
) -> None:
    settings = Settings.load(
        {"notifier": {"slack": {"coalesce_window": "10s"}}},
        "http://console",
        VendorEnv(
            pagerduty_routing_key=SecretStr("R" * 32), slack_webhook_url=SecretStr("http://s")
        ),
    )
    pool = await create_pool(database_url)
    try:
        states = []
        for schema, batches in (("single", [[e] for e in _events()]), ("batched", [_events()])):
            await migrate(pool, schema, CORE)
            await migrate(pool, schema, MIGRATIONS, component="notifier")
            service = NotifierService(Runtime(pool, schema), settings)  # type: ignore[arg-type]
            for batch in batches:
                await service.handle(batch, [], now=T0 + timedelta(seconds=30))
            async with pool.acquire() as conn:
                states.append(await _state(conn, schema))
    finally:
        await pool.close()
    one, batched = states
    assert batched == one
    timers = {(t[0], t[1], t[2], t[3]): t[6] for t in one["timers"]}
    assert timers[(1, 1, "sla", "acknowledge")] == "cancelled"  # scheduled, then cancelled
    assert timers[(1, 2, "sla", "acknowledge")] == "pending"  # the reopen's new cycle
    assert any(d[7] == "coalesced" for d in one["deliveries"])
    assert len(one["sse"]) == 8
