"""The `/api` edge: authenticate every request, check the route's role, then proxy it.

The Authorization header is forwarded so each service re-checks the caller itself. For the SSE
stream the token may come as `?access_token=` (EventSource cannot send headers); the gateway
moves it into the Authorization header and caps open streams per token.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, HTTPException, Request
from interventions_platform.auth import ROLES, Principal, TokenStore, hash_token
from starlette.responses import Response

from . import routes
from .proxy import Proxy

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
EDGE_PATH = "/api/{rest:path}"


class StreamLimiter:
    """Counts open SSE streams per token so one leaked tab loop cannot exhaust the hub."""

    def __init__(self, per_token: int):
        self.per_token = per_token
        self.open: Counter[str] = Counter()

    def acquire(self, key: str) -> None:
        if self.open[key] >= self.per_token:
            raise HTTPException(
                429,
                f"this token already has {self.per_token} open event "
                "streams; close another tab or use another token",
            )
        self.open[key] += 1

    def release(self, key: str) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


def bearer(request: Request, *, allow_query: bool) -> str:
    """The presented token: the Authorization header, or `access_token` on SSE."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    query_token = request.query_params.get("access_token", "") if allow_query else ""
    if query_token:
        return query_token
    raise HTTPException(
        401,
        "missing bearer token: send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def authorize(request: Request, token: str, role: str) -> Principal:
    store: TokenStore = request.app.state.tokens
    principal = await store.resolve(token)
    if principal is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    if not principal.has(role):
        raise HTTPException(
            403, f"this action needs the {role} role; your token has {sorted(principal.roles)}"
        )
    return principal


def build_router(proxy: Proxy, limiter: StreamLimiter) -> APIRouter:
    router = APIRouter()

    @router.get("/api/me", tags=["auth"])
    async def me(request: Request) -> dict[str, object]:
        """Who the token belongs to and every role it grants (the console shows only what
        the caller may do)."""
        store: TokenStore = request.app.state.tokens
        principal = await store.resolve(bearer(request, allow_query=False))
        if principal is None:
            raise HTTPException(
                401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        granted = [r for r in ROLES if principal.has(r)]
        return {"name": principal.name, "roles": sorted(principal.roles), "grants": granted}

    @router.api_route(EDGE_PATH, methods=METHODS, include_in_schema=False)
    async def edge(request: Request, rest: str) -> Response:
        path = request.url.path
        sse = path in routes.SSE_PATHS
        token = bearer(request, allow_query=sse)
        target = routes.resolve(request.method, path)
        if target is None:
            await authorize(request, token, "viewer")
            raise HTTPException(404, f"no API at {request.method} {path}; see /docs")
        service, role = target
        await authorize(request, token, role)
        auth = {"authorization": f"Bearer {token}"}
        if not sse:
            return await proxy.forward(request, service, headers=auth)
        key = hash_token(token)
        limiter.acquire(key)
        return await proxy.forward(
            request, service, stream=True, headers=auth, on_close=lambda: limiter.release(key)
        )

    return router
