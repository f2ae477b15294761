"""Gateway test rig: the real gateway process, a real broker and PostgreSQL, and a recording
upstream server standing in for the services behind the gateway."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from gateway import tokens
from interventions_platform.embedded import free_port
from interventions_testkit import infra
from interventions_testkit.processes import ServiceProcess
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

UPSTREAM_OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "stand-in", "version": "1"},
    "paths": {
        "/api/incidents": {"get": {"summary": "from the upstream", "responses": {}}},
        "/api/incidents/{id}/extras": {"get": {"summary": "unpinned extra", "responses": {}}},
        "/healthz": {"get": {"responses": {}}},
    },
    "components": {"schemas": {"Incident": {"type": "object"}}},
}


@dataclass
class Upstream:
    """What the stand-in service saw: every proxied request, and open SSE streams."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    open_streams: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def upstream_app(state: Upstream) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": body.decode(errors="replace"),
        }
        state.requests.append(seen)
        return JSONResponse(seen)

    async def sse(request: Request) -> Response:
        state.requests.append(
            {
                "method": "GET",
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
            }
        )

        async def frames() -> AsyncIterator[bytes]:
            state.open_streams += 1
            try:
                yield b"event: connected\ndata: {}\n\n"
                for n in range(600):  # stays open like a real hub
                    await asyncio.sleep(0.2)
                    yield f"id: {n}\nevent: heartbeat\ndata: {{}}\n\n".encode()
            finally:
                state.open_streams -= 1

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def openapi(_: Request) -> Response:
        return Response(orjson.dumps(UPSTREAM_OPENAPI), media_type="application/json")

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[
            Route("/openapi.json", openapi),
            Route("/readyz", ready),
            Route("/api/sse/events", sse),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    state = Upstream(port=free_port())
    server = uvicorn.Server(
        uvicorn.Config(upstream_app(state), host="127.0.0.1", port=state.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield state
    server.should_exit = True
    thread.join(5)


@dataclass
class Gateway:
    url: str
    prefix: str
    bootstrap: str
    database_url: str
    admin: str
    tokens: dict[str, str]
    process: ServiceProcess


@pytest.fixture(scope="module")
async def module_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    dsn = await infra.create_database(pg_admin_dsn)
    yield dsn
    await infra.drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="module")
async def gateway(
    kafka_bootstrap: str,
    module_database: str,
    upstream: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Gateway]:
    """One gateway process for the module: services behind it are the stand-in, except the
    watcher and issue-sync whose URLs point at a closed port."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    admin = "iv_admin_" + uuid.uuid4().hex
    role_tokens = {
        role: await tokens.create(module_database, f"{role}-{prefix}", [role])
        for role in ("viewer", "responder", "approver", "producer")
    }
    config = tmp_path_factory.mktemp("gw") / "settings.yaml"
    config.write_text(
        "interventions:\n  gateway:\n    sse_connections_per_token: 2\n"
        "    max_body_bytes: 65536\n    openapi_refresh_s: 1\n"
    )
    port, closed = free_port(), free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": module_database,
        "KAFKA_TOPIC_PREFIX": prefix,
        "INTERVENTIONS_HTTP_PORT": str(port),
        "INTERVENTIONS_ADMIN_TOKEN": admin,
        "INTERVENTIONS_CONFIG": str(config),
        "INTERVENTIONS_INCIDENTS_URL": upstream.url,
        "INTERVENTIONS_PLAYBOOKS_URL": upstream.url,
        "INTERVENTIONS_NOTIFIER_URL": upstream.url,
        "INTERVENTIONS_WATCHER_URL": f"http://127.0.0.1:{closed}",
        "INTERVENTIONS_ISSUE_SYNC_URL": f"http://127.0.0.1:{closed}",
    }
    proc = ServiceProcess("gateway", env, port=port, log_dir=Path(config.parent)).start()
    try:
        await asyncio.to_thread(proc.wait_ready, 60)
        yield Gateway(proc.url, prefix, kafka_bootstrap, module_database, admin, role_tokens, proc)
    finally:
        assert proc.stop() == 0, proc.logs()
