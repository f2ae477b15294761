"""HTTP routes (DESIGN.md "Gateway API"): parse, call the service, map domain errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from interventions_events.incidents import Resolution, Severity
from interventions_platform.auth import Principal, Responder, TokenStore, Viewer, same_person
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

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
        # the plain cases never get here: `FastList` answers them (same query, same bytes)
        f = Filters(_strs(status), _strs(severity), _strs(kind), key, team)
        body = await queries().page_json(f, limit=limit, before=int(cursor) if cursor else None)
        # orjson bytes: FastAPI's validate-and-encode of a dict costs ~100x more per page
        return Response(body, media_type="application/json")

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


LIST_PATH = "/api/incidents"
_LIST_VALUES = {
    "status": frozenset(get_args(StatusName)),
    "severity": frozenset(get_args(Severity)),
    "kind": frozenset(get_args(KindName)),
}
_LIST_HEADERS = [(b"content-type", b"application/json")]


class FastList:
    """ASGI middleware answering `GET /api/incidents` without FastAPI's per-request work
    (dependency solving, parameter validation, Request objects: most of the service's CPU on
    a list). It takes only a viewer's token in the Authorization header and a query it parses
    exactly as the route's declared parameters would; anything else (no or bad token, a value
    the route would refuse with a 422, an unusual spelling such as `limit=050`) goes on to the
    FastAPI route, which answers as before. Both call `Queries.page_json`: the same bytes."""

    def __init__(self, app: ASGIApp, *, queries: Callable[[], Queries], route: object):
        self.app = app
        self.queries = queries
        self.route = route  # the FastAPI route, so request metrics keep their label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == LIST_PATH
            and await self._answered(scope, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, send: Send) -> bool:
        auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, token = auth.decode("latin-1").partition(" ")
        token = token.strip()
        store: TokenStore | None = getattr(scope["app"].state, "tokens", None)
        if scheme.lower() != "bearer" or not token or store is None:
            return False
        query = _list_query(scope.get("query_string", b""))
        if query is None:
            return False
        principal = await store.resolve(token)
        if principal is None or not principal.has("viewer"):
            return False
        f, limit, before = query
        scope["route"] = self.route
        body = await self.queries().page_json(f, limit=limit, before=before)
        headers = [(b"content-length", str(len(body)).encode()), *_LIST_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True


def _list_query(raw: bytes) -> tuple[Filters, int, int | None] | None:
    """The list's filters, limit and cursor as the route would read them (Starlette's query
    parsing; the last value of a single-valued parameter wins), or None to let the route
    decide (and refuse) the query itself."""
    multi: dict[str, list[str]] = {"status": [], "severity": [], "kind": []}
    one: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        allowed = _LIST_VALUES.get(name)
        if allowed is not None:
            if value not in allowed:
                return None
            multi[name].append(value)
        else:
            one[name] = value
    limit_s = one.get("limit", "50")
    cursor = one.get("cursor")
    if not _plain_digits(limit_s) or not 1 <= int(limit_s) <= 500:
        return None
    if cursor is not None and not (_plain_digits(cursor) and len(cursor) <= 18):
        return None
    f = Filters(
        multi["status"] or None,
        multi["severity"] or None,
        multi["kind"] or None,
        one.get("key"),
        one.get("team"),
    )
    return f, int(limit_s), int(cursor) if cursor else None


def _plain_digits(value: str) -> bool:
    """ASCII digits without a leading zero (or "0" itself): read the same by int() and by
    the route's validation."""
    return value.isascii() and value.isdigit() and (value == "0" or value[0] != "0")


def install_fast_list(app: FastAPI, router: APIRouter, queries: Callable[[], Queries]) -> None:
    """Put `FastList` inside the app's own middleware (the security headers, size limit and
    request metrics still wrap it); `router` is `build_router`'s."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == LIST_PATH)
    app.user_middleware.append(Middleware(FastList, queries=queries, route=route))


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


__all__ = ["FastList", "Principal", "build_router", "install_error_handlers", "install_fast_list"]
