"""Many open incidents stored the way the incident service stores them: the domain's own
IncidentOpened events appended to the event store and projected into the read model, ids from
the service's sequence. Nothing goes to the outbox: the other services need not hear of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from incidents import commands as c
from incidents.domain import Incident, decide, evolve
from incidents.readmodel import ReadModel, incident_stream
from interventions_eventstore import Append, EventStore, NewEvent, create_pool

SCHEMA = "incidents"
CHUNK = 5000


def _opened(iid: int, now: datetime) -> tuple[Append, Incident]:
    key = f"INV_bulk_{iid}"
    cmd = c.OpenIncident(
        incident_id=iid,
        kind="invariant",
        key=key,
        subject="inbox.triage",
        severity="sev2",
        summary="Data freshness violation for inbox.triage",
        details={"invariant": {"id": f"bulk_{iid}", "threshold": 300, "actual": 1800}},
        playbooks=("rerun_eval", "rerun_dbt"),
        owner_team="data-platform",
        detection_id=str(uuid.uuid4()),
        rule="opened: no active incident for the key",
    )
    (event,) = decide(cmd, None, now)
    data = event.model_dump(mode="json", exclude={"incident"})
    new = NewEvent(
        type=event.type_name,
        data=data,
        event_id=str(uuid.uuid4()),
        schema_version=event.schema_version,
        metadata={"rule": cmd.rule},
    )
    return Append(incident_stream(iid), 0, [new]), evolve(None, event)


async def store_incidents(dsn: str, n: int) -> None:
    """Store `n` open incidents, CHUNK per transaction."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    store, rm = EventStore(pool, SCHEMA), ReadModel(SCHEMA)
    now = datetime.now(UTC)
    try:
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            async with pool.acquire() as conn, conn.transaction():
                ids = await conn.fetch(
                    f"SELECT nextval('{SCHEMA}.incident_ids') AS id FROM generate_series(1, $1)",
                    size,
                )
                pairs = [_opened(r["id"], now) for r in ids]
                await store.append_many([a for a, _ in pairs], conn=conn)
                await rm.save(conn, [i for _, i in pairs])
    finally:
        await pool.close()
