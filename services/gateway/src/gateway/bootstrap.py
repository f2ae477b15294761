"""Composition root of the gateway: runtime, proxy, ingest, OpenAPI merge, console."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from interventions_platform.http import create_app
from interventions_platform.runtime import Runtime
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from . import console, edge, forward, ingest, upstreams
from .openapi import OpenApiMerger
from .proxy import Proxy
from .settings import GatewaySection, load, upstream_urls

# Swagger UI is served from the `swagger-ui-bundle` package (no CDN: works offline); its page
# carries one inline bootstrap script, so only /docs allows inline scripts
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)
DOCS_ASSETS = "/docs-assets"


def build_app(runtime: Runtime | None = None) -> FastAPI:
    """The gateway app; nothing connects until the lifespan starts."""
    runtime = runtime or Runtime("gateway", relay=False)
    cfg = load(runtime.raw_config)
    urls = upstream_urls(runtime.env)
    proxy = Proxy(
        urls,
        connect_timeout=cfg.upstream_connect_timeout_s,
        read_timeout=cfg.upstream_read_timeout_s,
        max_body=cfg.max_body_bytes,
    )
    merger = OpenApiMerger(urls, proxy.client, cfg.openapi_refresh_s)
    pools = forward.Upstreams(
        urls,
        connect_timeout=cfg.upstream_connect_timeout_s,
        read_timeout=cfg.upstream_read_timeout_s,
    )
    app = create_app(
        "gateway",
        lifespan=runtime.lifespan(proxy, merger, pools),
        ready_checks={"database": runtime.db_ready, "kafka": runtime.kafka_ready},
        title="Interventions",
        max_body_bytes=cfg.max_body_bytes,
    )
    app.state.merger = merger
    _readyz_with_upstreams(app, proxy, urls, cfg)
    _docs(app, merger)
    app.include_router(ingest.build_router(runtime, cfg.max_batch_events, cfg.max_body_bytes))
    edge_router = edge.build_router(proxy, edge.StreamLimiter(cfg.sse_connections_per_token))
    app.include_router(edge_router)
    _fast_reads(app, pools, edge_router)
    console.mount(app)
    if cfg.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.cors_allow_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "last-event-id"],
        )
    return app


def _fast_reads(app: FastAPI, pools: forward.Upstreams, edge_router: APIRouter) -> None:
    """The plain authorized reads skip the httpx proxy (`forward.py`). Innermost of the user
    middleware: the security headers, size limit, request metrics and CORS still wrap it."""
    edge_route = next(
        r for r in edge_router.routes if isinstance(r, Route) and r.path == edge.EDGE_PATH
    )
    app.user_middleware.append(
        Middleware(
            forward.FastForward,
            upstreams=pools,
            route=edge_route,
            tokens=lambda: getattr(app.state, "tokens", None),
        )
    )


def _readyz_with_upstreams(
    app: FastAPI, proxy: Proxy, urls: dict[str, str], cfg: GatewaySection
) -> None:
    """Replace /readyz: the gateway's own checks decide; each upstream's verdict is reported."""
    _drop_route(app, "/readyz")

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks: dict[str, bool] = {}
        for name, check in app.state.ready_checks.items():
            try:
                checks[name] = bool(await check())
            except Exception:  # a failing check means not ready, never a 500
                checks[name] = False
        ok = all(checks.values())
        body: dict[str, Any] = {
            "ready": ok,
            "service": "gateway",
            "checks": checks,
            "upstreams": await upstreams.probe(proxy.client, urls, cfg.upstream_ready_timeout_s),
        }
        return JSONResponse(body, status_code=200 if ok else 503)


def _docs(app: FastAPI, merger: OpenApiMerger) -> None:
    def openapi() -> dict[str, Any]:
        return merger.document(app)

    app.openapi = openapi  # type: ignore[method-assign]
    _drop_route(app, "/docs")

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Interventions API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="",
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page


def _drop_route(app: FastAPI, path: str) -> None:
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path == path)
    ]
