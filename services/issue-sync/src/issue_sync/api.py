"""HTTP: the sync state of one incident (its ticket link and queued ops), for operators."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Path, Request
from interventions_platform.auth import Viewer

from .store import SyncStore

# PostgreSQL bigint: a larger id in a path is a 422 naming the limit, not a driver error (500)
IncidentId = Annotated[int, Path(ge=-(2**63), le=2**63 - 1)]

router = APIRouter(prefix="/api/issue-sync", tags=["issue-sync"])


@router.get("/incidents/{incident_id}")
async def incident_sync(incident_id: IncidentId, request: Request, _: Viewer) -> dict[str, Any]:
    """The incident's ticket link and every op queued for it, in order."""
    pool: asyncpg.Pool = request.app.state.runtime.db
    store: SyncStore = request.app.state.sync_store
    async with pool.acquire() as conn:
        link = await store.link(conn, incident_id)
        ops = await store.ops_of(conn, incident_id)
    if link is None and not ops:
        raise HTTPException(404, f"incident {incident_id} has no ticket and nothing queued")
    return {
        "incident_id": incident_id,
        "ops": ops,
        "link": None
        if link is None
        else {
            "provider": link.provider,
            "url": link.url,
            "external_id": link.external_id,
            "state": link.state,
        },
    }
