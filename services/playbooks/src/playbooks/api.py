"""HTTP routes under /api/playbooks: parse, check identity, call the service, map errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from interventions_platform.auth import Admin, Approver, Responder, Viewer, same_person
from pydantic import BaseModel, ConfigDict, Field

from .errors import PlaybookError
from .service import PlaybookService

# PostgreSQL bigint: a larger id in a path is a 422 naming the limit, not a driver error (500)
IncidentId = Annotated[int, Path(ge=-(2**63), le=2**63 - 1)]

ACTION_TYPE = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_]+$")


class DryRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action_type: str = ACTION_TYPE
    params: dict[str, Any] = Field(default_factory=dict)


class ExecuteBody(DryRunBody):
    approved_by: str | None = None
    reason: str | None = Field(default=None, max_length=2000)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


def _svc(request: Request) -> PlaybookService:
    svc: PlaybookService = request.app.state.playbooks
    return svc


def router() -> APIRouter:
    r = APIRouter(prefix="/api/playbooks", tags=["playbooks"])

    @r.get("/actions")
    async def list_actions(request: Request, _: Viewer) -> dict[str, Any]:
        return {"actions": await _svc(request).catalog()}

    @r.post("/incidents/{incident_id}/actions/dry-run")
    async def dry_run(
        request: Request, incident_id: IncidentId, body: DryRunBody, who: Responder
    ) -> dict[str, Any]:
        return await _svc(request).dry_run(incident_id, body.action_type, body.params, who.name)

    @r.post("/incidents/{incident_id}/actions/execute")
    async def execute(
        request: Request, incident_id: IncidentId, body: ExecuteBody, who: Responder
    ) -> JSONResponse:
        same_person(who, body.approved_by, "approved_by")
        if body.approved_by is not None and not who.has("approver"):
            raise HTTPException(
                403,
                "approved_by needs the approver role; request the execution "
                "without it and ask an approver to approve it",
            )
        status, out = await _svc(request).execute(
            incident_id,
            body.action_type,
            body.params,
            actor=who.name,
            approved=body.approved_by is not None,
            reason=body.reason,
        )
        return JSONResponse(out, status_code=status)

    @r.get("/incidents/{incident_id}/actions")
    async def history(request: Request, incident_id: IncidentId, _: Viewer) -> dict[str, Any]:
        return await _svc(request).history(incident_id)

    @r.get("/approvals")
    async def approvals(request: Request, _: Viewer) -> dict[str, Any]:
        return {"approvals": await _svc(request).approvals()}

    @r.post("/approvals/{execution_id}/approve")
    async def approve(request: Request, execution_id: str, who: Approver) -> dict[str, Any]:
        return await _svc(request).approve(execution_id, who.name)

    @r.post("/executions/{execution_id}/rollback")
    async def rollback(
        request: Request, execution_id: str, who: Approver, body: ReasonBody | None = None
    ) -> dict[str, Any]:
        return await _svc(request).rollback(execution_id, who.name, body.reason if body else None)

    @r.post("/actions/{action_type}/reset")
    async def reset(request: Request, action_type: str, who: Admin) -> dict[str, Any]:
        return await _svc(request).reset(action_type, who.name)

    return r


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlaybookError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


def mount(app: FastAPI, service: PlaybookService) -> None:
    app.state.playbooks = service
    app.include_router(router())
    app.add_exception_handler(PlaybookError, _domain_error)
