"""HTTP routes (DESIGN.md "Gateway API"): parse, call the service, map domain errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from interventions_events.incidents import Resolution, Severity
from interventions_platform.auth import Principal, Responder, Viewer, same_person
from pydantic import BaseModel, ConfigDict, Field

from . import commands as c
from .domain import DomainError, NotFound
from .queries import Filters, Queries
from .service import IncidentService

# PostgreSQL bigint: a larger id in a path is a 422 naming the limit, not a driver error (500)
IncidentId = Annotated[int, Path(ge=-(2**63), le=2**63 - 1)]

StatusName = Literal["open", "acknowledged", "mitigated", "resolved", "closed"]
KindName = Literal["invariant", "budget", "planner", "platform"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int | None = Field(default=None, ge=1, description="409 unless this is current")


class AcknowledgeBody(_Body):
    acknowledged_by: str | None = None
    notes: str | None = Field(default=None, max_length=10_000)


class NotesBody(_Body):
    notes: str | None = Field(default=None, max_length=10_000)


class ResolveBody(NotesBody):
    resolution: Resolution = "fixed"


class SeverityBody(_Body):
    severity: Severity
    reason: str = Field(min_length=1, max_length=10_000)


class EscalateBody(_Body):
    reason: str = Field(min_length=1, max_length=10_000)


class NoteBody(_Body):
    text: str = Field(min_length=1, max_length=10_000)


def build_router(
    service: Callable[[], IncidentService], queries: Callable[[], Queries]
) -> APIRouter:
    r = APIRouter(prefix="/api")

    async def run(cmd: c.Command, version: int | None) -> dict[str, Any]:
        return (await service().execute(cmd, version)).to_json()

    @r.get("/incidents")
    async def list_incidents(
        _: Viewer,
        status: Annotated[list[StatusName] | None, Query()] = None,
        severity: Annotated[list[Severity] | None, Query()] = None,
        kind: Annotated[list[KindName] | None, Query()] = None,
        key: str | None = None,
        team: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    ) -> Response:
        f = Filters(_strs(status), _strs(severity), _strs(kind), key, team)
        items, nxt = await queries().page(f, limit=limit, before=int(cursor) if cursor else None)
        # orjson bytes: FastAPI's validate-and-encode of a dict costs ~100x more per page
        page = {
            "items": [i.to_json() for i in items],
            "next_cursor": str(nxt) if nxt is not None else None,
        }
        return Response(orjson.dumps(page), media_type="application/json")

    @r.get("/incidents/{incident_id}")
    async def get_incident(
        _: Viewer, incident_id: IncidentId, as_of: datetime | None = None
    ) -> dict[str, Any]:
        if as_of is None:
            found = await queries().get(incident_id)
        elif as_of.tzinfo is None:
            raise HTTPException(422, "as_of must be RFC 3339 with a timezone, e.g. ...Z")
        else:
            found = await queries().as_of(incident_id, as_of)
        if found is None:
            when = f" at {as_of.isoformat()}" if as_of else ""
            raise HTTPException(404, f"incident {incident_id} does not exist{when}")
        return found.to_json()

    @r.get("/incidents/{incident_id}/events")
    async def timeline(_: Viewer, incident_id: IncidentId) -> dict[str, Any]:
        events = await queries().timeline(incident_id)
        if not events:
            raise HTTPException(404, f"incident {incident_id} does not exist")
        return {"incident_id": incident_id, "events": events}

    @r.get("/detections")
    async def detections(
        _: Viewer,
        key: Annotated[str, Query(min_length=1, max_length=300)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        cursor: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items, nxt = await queries().decisions(key, after=cursor, limit=limit)
        counts = await queries().decision_counts(key)
        return {"key": key, "counts": counts, "items": items, "next_cursor": nxt}

    @r.post("/incidents/{incident_id}/acknowledge")
    async def acknowledge(
        who: Responder,
        incident_id: IncidentId,
        body: Annotated[AcknowledgeBody | None, Body()] = None,
    ) -> dict[str, Any]:
        b = body or AcknowledgeBody()
        same_person(who, b.acknowledged_by, "acknowledged_by")
        return await run(c.Acknowledge(incident_id, who.name, b.notes), b.version)

    @r.post("/incidents/{incident_id}/mitigate")
    async def mitigate(
        who: Responder, incident_id: IncidentId, body: Annotated[NotesBody | None, Body()] = None
    ) -> dict[str, Any]:
        b = body or NotesBody()
        return await run(c.Mitigate(incident_id, who.name, b.notes), b.version)

    @r.post("/incidents/{incident_id}/resolve")
    async def resolve(
        who: Responder, incident_id: IncidentId, body: Annotated[ResolveBody | None, Body()] = None
    ) -> dict[str, Any]:
        b = body or ResolveBody()
        return await run(c.Resolve(incident_id, who.name, b.notes, b.resolution), b.version)

    @r.post("/incidents/{incident_id}/close")
    async def close(
        who: Responder, incident_id: IncidentId, body: Annotated[NotesBody | None, Body()] = None
    ) -> dict[str, Any]:
        b = body or NotesBody()
        return await run(c.Close(incident_id, who.name, b.notes), b.version)

    @r.post("/incidents/{incident_id}/reopen")
    async def reopen(
        who: Responder, incident_id: IncidentId, body: Annotated[NotesBody | None, Body()] = None
    ) -> dict[str, Any]:
        b = body or NotesBody()
        return await run(c.Reopen(incident_id, who.name, b.notes), b.version)

    @r.post("/incidents/{incident_id}/severity")
    async def severity(
        who: Responder, incident_id: IncidentId, body: SeverityBody
    ) -> dict[str, Any]:
        cmd = c.ChangeSeverity(incident_id, who.name, body.severity, body.reason)
        return await run(cmd, body.version)

    @r.post("/incidents/{incident_id}/escalate")
    async def escalate(
        who: Responder, incident_id: IncidentId, body: EscalateBody
    ) -> dict[str, Any]:
        return await run(c.Escalate(incident_id, who.name, body.reason), body.version)

    @r.post("/incidents/{incident_id}/notes")
    async def notes(who: Responder, incident_id: IncidentId, body: NoteBody) -> dict[str, Any]:
        return await run(c.AddNote(incident_id, who.name, body.text), body.version)

    return r


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become `{"detail": ...}` with 404 or 409."""

    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def conflict(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(DomainError, conflict)


def _strs(values: list[Any] | None) -> list[str] | None:
    return [str(v) for v in values] if values else None


__all__ = ["Principal", "build_router", "install_error_handlers"]
