"""Every /api request is authenticated at the gateway, with the route's role."""

from __future__ import annotations

import httpx
import pytest
from gateway import routes

from ..conftest import Gateway, Upstream

MUTATING = [r for r in routes.PINNED if r.method != "GET"]


def concrete(path: str) -> str:
    return path.replace("{id}", "42")


@pytest.mark.parametrize("route", MUTATING, ids=lambda r: f"{r.method} {r.path}")
async def test_every_mutating_route_refuses_a_missing_token_with_401(
    gateway: Gateway, route: routes.Route
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.request(route.method, concrete(route.path), json={})
    assert resp.status_code == 401
    assert "bearer" in resp.json()["detail"].lower()
    assert resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("route", MUTATING, ids=lambda r: f"{r.method} {r.path}")
async def test_every_mutating_route_refuses_a_viewer_token_with_403(
    gateway: Gateway, route: routes.Route
) -> None:
    headers = {"authorization": f"Bearer {gateway.tokens['viewer']}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        resp = await client.request(route.method, concrete(route.path), json={})
    assert resp.status_code == 403
    assert route.role in resp.json()["detail"]


async def test_an_unknown_token_is_refused_with_401(gateway: Gateway) -> None:
    headers = {"authorization": "Bearer iv_not-a-real-token"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        resp = await client.get("/api/incidents")
    assert resp.status_code == 401
    assert resp.json()["detail"] == "invalid or revoked token"


@pytest.mark.parametrize(
    "path",
    [
        "/api/incidents",
        "/api/incidents/7",
        "/api/incidents/7/events",
        "/api/detections",
        "/api/playbooks/actions",
        "/api/playbooks/incidents/7/actions",
    ],
)
async def test_a_viewer_can_read(gateway: Gateway, upstream: Upstream, path: str) -> None:
    headers = {"authorization": f"Bearer {gateway.tokens['viewer']}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        resp = await client.get(path, params={"status": "open"})
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", path, "status=open")


async def test_a_producer_can_ingest_but_not_acknowledge(gateway: Gateway) -> None:
    headers = {"authorization": f"Bearer {gateway.tokens['producer']}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        ack = await client.post("/api/incidents/1/acknowledge", json={})
        read = await client.get("/api/incidents")
        ingest = await client.post("/api/signals", json=_signal())
    assert ack.status_code == 403
    assert read.status_code == 403
    assert ingest.status_code == 202, ingest.text


async def test_a_responder_reaches_the_service_and_the_token_is_forwarded(
    gateway: Gateway, upstream: Upstream
) -> None:
    token = gateway.tokens["responder"]
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.post(
            "/api/incidents/5/acknowledge",
            json={"notes": "on it"},
            headers={
                "authorization": f"Bearer {token}",
                "x-request-id": "req-123",
                "connection": "keep-alive",
            },
        )
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert seen["headers"]["authorization"] == f"Bearer {token}"
    assert seen["headers"]["x-request-id"] == "req-123"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["body"] == '{"notes":"on it"}'
    assert resp.headers["x-request-id"] == "req-123"


async def test_an_admin_holds_every_role(gateway: Gateway) -> None:
    headers = {"authorization": f"Bearer {gateway.admin}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        execute = await client.post("/api/playbooks/incidents/3/actions/execute", json={})
        ingest = await client.post("/api/signals", json=_signal())
    assert execute.status_code == 200
    assert ingest.status_code == 202


async def test_an_api_path_no_service_serves_is_404_after_auth(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        anonymous = await client.get("/api/nothing-here")
        viewer = await client.get(
            "/api/nothing-here", headers={"authorization": f"Bearer {gateway.tokens['viewer']}"}
        )
    assert anonymous.status_code == 401
    assert viewer.status_code == 404


def _signal() -> dict[str, object]:
    import uuid

    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": "GateEvaluated",
        "data": {"gate": "nightly", "agent": "warehouse.health", "passed": True},
    }
