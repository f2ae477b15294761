"""The FastAPI app every service starts from: health, readiness, metrics, security headers,
size limits and `{"detail": "..."}` errors."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics, tracing

ReadyCheck = Callable[[], Awaitable[bool]]
MAX_BODY_BYTES = 1_048_576
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


def create_app(
    service: str,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]] | None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    title: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    app = FastAPI(
        title=title or f"Interventions {service}",
        lifespan=lifespan,
        version="0.1.0",
        telemetry=telemetry(),
    )
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
        return JSONResponse(
            {"ready": ok, "service": service, "checks": results}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"])
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry: its request spans only when ours are exported (the trace
    of a signal starts at the gateway's `POST /api/signals` span); no metrics or logs through
    it (Prometheus has the request metrics). Left on by default, it asked for the global
    tracer, meter and logger providers on every request, each lookup reading an environment
    variable: ~5 % of the gateway's CPU on a proxied list request with nothing exported."""
    return {"tracing": tracing.will_export(), "metrics": False, "logs": False}


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)


# as raw ASGI header pairs, lower-case names
_SECURITY_RAW = [
    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()
]


def _with_security_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers plus each security header it does not set itself (names
    compared case-insensitively). Through `MutableHeaders` this took ~57,600 instructions a
    response, on every request of every service; on the raw pairs ~9,200 (callgrind)."""
    raw = list(headers)
    present = {name.lower() for name, _ in raw}
    raw += [pair for pair in _SECURITY_RAW if pair[0] not in present]
    return raw


class _Guard:
    """Size limit, security headers and request metrics as a pure ASGI middleware: responses
    stream through untouched (a BaseHTTPMiddleware would relay every chunk of an SSE stream
    through an extra task and memory stream, and cannot abort a stuck stream cleanly)."""

    def __init__(self, app: ASGIApp, *, service: str, max_body: int):
        self.app = app
        self.service = service
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if length.isdigit() and int(length) > self.max_body:
            response = JSONResponse({"detail": f"request body over {self.max_body} bytes"}, 413)
            await response(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(message.get("headers") or ())
                route = scope.get("route")
                metrics.HTTP_REQUESTS.labels(
                    self.service,
                    scope["method"],
                    getattr(route, "path", "other"),
                    str(message["status"]),
                ).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_with_headers)
