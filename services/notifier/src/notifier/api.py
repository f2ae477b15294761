"""HTTP routes of the notifier: the SSE stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from interventions_platform import auth

from .sse import Hub, SseResponse

router = APIRouter(prefix="/api/sse", tags=["sse"])


async def viewer(
    request: Request,
    access_token: Annotated[
        str | None,
        Query(description="the bearer token, for EventSource clients that cannot send headers"),
    ] = None,
) -> auth.Principal:
    """A viewer token from the Authorization header or, for browsers, `?access_token=`."""
    if request.headers.get("authorization") or not access_token:
        principal = await auth.authenticate(request)
    else:
        found = await request.app.state.tokens.resolve(access_token)
        if found is None:
            raise HTTPException(
                401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        principal = found
    if not principal.has("viewer"):
        raise HTTPException(
            403, f"the event stream needs the viewer role; your token has {sorted(principal.roles)}"
        )
    return principal


def _position(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise HTTPException(
            400,
            f"{name} must be the id of an event you received "
            f"(a non-negative integer), not {value[:40]!r}",
        )
    return int(value)


@router.get(
    "/events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "incident_created, incident_updated, action_executed, heartbeat",
        }
    },
)
async def events(
    request: Request,
    principal: Annotated[auth.Principal, Depends(viewer)],
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[str | None, Query(description="resume after this id")] = None,
) -> SseResponse:
    """Live incident and action events; resumes after `Last-Event-ID` with no gap."""
    hub: Hub = request.app.state.hub
    after = _position(last_event_id_header, "Last-Event-ID")
    if after is None:
        after = _position(last_event_id, "last_event_id")
    return SseResponse(hub, after)
