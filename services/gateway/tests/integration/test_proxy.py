"""The proxy: SSE streams through unbuffered, per-token stream cap, upstream failures, headers."""

from __future__ import annotations

import asyncio
import time

import httpx

from ..conftest import Gateway, Upstream


async def first_frame(resp: httpx.Response) -> str:
    async for chunk in resp.aiter_text():
        return chunk
    return ""


async def test_sse_accepts_the_token_as_a_query_parameter_and_streams_unbuffered(
    gateway: Gateway, upstream: Upstream
) -> None:
    token = gateway.tokens["viewer"]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        started = time.monotonic()
        async with client.stream(
            "GET", "/api/sse/events", params={"access_token": token, "since": "3"}
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            frame = await first_frame(resp)
            assert "event: connected" in frame
            assert time.monotonic() - started < 1.0  # the stream never ends: it was not buffered
    seen = [r for r in upstream.requests if r["path"] == "/api/sse/events"][-1]
    assert seen["headers"]["authorization"] == f"Bearer {token}"
    assert seen["query"] == "since=3"  # the token is not passed along in the URL


async def test_the_query_token_is_only_honoured_on_the_sse_stream(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.get("/api/incidents", params={"access_token": gateway.tokens["viewer"]})
    assert resp.status_code == 401


async def test_a_token_may_hold_only_a_few_streams_and_closing_one_frees_a_slot(
    gateway: Gateway, upstream: Upstream
) -> None:
    params = {"access_token": gateway.tokens["responder"]}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        async with (
            client.stream("GET", "/api/sse/events", params=params) as one,
            client.stream("GET", "/api/sse/events", params=params) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)
            third = await client.get("/api/sse/events", params=params)
            assert third.status_code == 429
            assert "open event streams" in third.json()["detail"]
        async with asyncio.timeout(5):
            while True:  # the gateway notices the disconnect and frees the slots
                async with client.stream("GET", "/api/sse/events", params=params) as again:
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        while upstream.open_streams:  # and the upstream streams are closed too
            await asyncio.sleep(0.1)


async def test_an_unreachable_service_is_a_503_naming_it(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.get(
            "/api/watcher/state", headers={"authorization": f"Bearer {gateway.tokens['viewer']}"}
        )
    assert resp.status_code == 503
    assert "watcher service" in resp.json()["detail"]


async def test_readyz_reports_each_upstream(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["checks"] == {"database": True, "kafka": True}
    assert body["upstreams"]["incidents"]["ready"] is True
    assert body["upstreams"]["watcher"]["ready"] is False


async def test_the_console_is_served_with_security_headers_and_no_cors(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = await client.get("/")
        preflight = await client.options(
            "/api/incidents",
            headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
        )
    assert page.status_code == 200 and "<html" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self'
    assert page.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in preflight.headers


async def test_healthz_needs_no_token_and_metrics_are_prometheus(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
    assert health.json() == {"status": "ok", "service": "gateway"}
    assert "interventions_http_request_seconds" in metrics.text


async def test_a_read_through_the_gateway_is_the_services_own_answer(
    gateway: Gateway, upstream: Upstream
) -> None:
    """The fast read path relays status, headers and body unchanged, adds the forwarding
    headers, keeps the caller's request id, and counts the request under the edge route."""
    token = gateway.tokens["viewer"]
    path, params = "/api/incidents/7/extras", {"status": "open", "limit": "2"}
    async with httpx.AsyncClient(timeout=5) as client:
        via = await client.get(
            gateway.url + path,
            params=params,
            headers={"authorization": f"Bearer {token}", "x-request-id": "rid-fast-1"},
        )
        seen = upstream.requests[-1]
        direct = await client.get(upstream.url + path, params=params, headers=seen["headers"])
        metrics = await client.get(gateway.url + "/metrics")
    assert via.status_code == direct.status_code == 200
    echoed = direct.json()
    echoed["headers"].pop("connection", None)  # httpx's own hop-by-hop header
    assert via.json() == echoed  # the echo of what the service was sent
    assert via.headers["content-type"] == direct.headers["content-type"]
    assert via.headers["x-request-id"] == "rid-fast-1"
    assert via.headers["x-frame-options"] == "DENY"  # the gateway's own headers still apply
    assert seen["query"] == "status=open&limit=2"
    assert seen["headers"]["authorization"] == f"Bearer {token}"
    assert seen["headers"]["x-request-id"] == "rid-fast-1"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["host"] == upstream.url.removeprefix("http://")
    assert 'route="/api/{rest:path}"' in metrics.text and 'method="GET"' in metrics.text
