"""The FastAPI app every service starts from: health, readiness, metrics, security headers,
size limits and `{"detail": "..."}` errors."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from . import metrics

ReadyCheck = Callable[[], Awaitable[bool]]
MAX_BODY_BYTES = 1_048_576
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


def create_app(service: str, *, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None,
               ready_checks: dict[str, ReadyCheck] | None = None, title: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title=title or f"Interventions {service}", lifespan=lifespan, version="0.1.0")
    app.state.service = service
    app.state.ready_checks = dict(ready_checks or {})
    app.add_middleware(_Guard, service=service, max_body=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]

    @app.get("/healthz", include_in_schema=True, tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        results = {}
        for name, check in app.state.ready_checks.items():
            try:
                results[name] = bool(await check())
            except Exception:  # a failing check means not ready, never a 500
                results[name] = False
        ok = all(results.values())
        return JSONResponse({"ready": ok, "service": service, "checks": results},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app: Any, *, service: str, max_body: int):
        super().__init__(app)
        self.service = service
        self.max_body = max_body

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            return JSONResponse({"detail": f"request body over {self.max_body} bytes"}, 413)
        started = time.perf_counter()
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        route = request.scope.get("route")
        metrics.HTTP_REQUESTS.labels(self.service, request.method,
                                     getattr(route, "path", "other"),
                                     str(response.status_code)).observe(time.perf_counter() - started)
        return response
