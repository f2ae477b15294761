"""A thin streaming reverse proxy: request and response bodies flow through unbuffered (SSE
included), hop-by-hop headers are dropped, X-Forwarded-For and X-Request-Id are added."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)


class Proxy:
    """Forwards requests to the services over one pooled HTTP client."""

    def __init__(
        self,
        upstreams: dict[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        max_body: int,
    ):
        self.upstreams = upstreams
        self.max_body = max_body
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
        # streams (SSE) hold their connection for long: one pool with the global cap
        self.client = _client(max_connections=500, keepalive=100)
        # httpcore scans every pooled connection (a poll syscall each) on every request:
        # with 32 busy keep-alive connections that was a third of the gateway's CPU on a
        # list; short requests are spread over small pools instead
        self.shards = [_client(max_connections=64, keepalive=8) for _ in range(SHARDS)]
        self._next = itertools.count()

    async def start(self) -> None:
        """Nothing to open: the clients connect lazily."""

    async def stop(self) -> None:
        for client in (self.client, *self.shards):
            await client.aclose()

    async def forward(
        self,
        request: Request,
        service: str,
        *,
        stream: bool = False,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> Response:
        """Send `request` to `service` and stream its answer back; `stream` = no read timeout."""
        base = self.upstreams[service]
        on_close = _once(on_close)
        query = _query_without_token(request)
        url = base + request.url.path + (f"?{query}" if query else "")
        out_headers = forward_headers(request, headers or {})
        timeout = httpx.Timeout(None, connect=self.timeout.connect) if stream else self.timeout
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE")
        client = self.client if stream else self.shards[next(self._next) % SHARDS]
        try:
            upstream_req = client.build_request(
                request.method,
                url,
                headers=out_headers,
                timeout=timeout,
                content=_limited(request, self.max_body) if has_body else None,
            )
        except httpx.InvalidURL:  # e.g. a control character percent-encoded in the path
            _close(on_close)
            return JSONResponse(
                {
                    "detail": "the path contains characters that cannot be forwarded; remove "
                    "control characters from it"
                },
                status_code=400,
            )
        try:
            upstream = await client.send(upstream_req, stream=True)
        except BodyTooLarge as exc:
            _close(on_close)
            return JSONResponse({"detail": str(exc)}, status_code=413)
        except httpx.TimeoutException:
            _close(on_close)
            return _unavailable(
                504, f"the {service} service at {base} did not answer in time; retry shortly"
            )
        except httpx.TransportError as exc:
            _close(on_close)
            log.warning("upstream %s unreachable: %s", service, exc)
            return _unavailable(
                503,
                f"the {service} service at {base} is unavailable "
                f"({type(exc).__name__}); retry shortly",
            )
        if not stream and _small(upstream):
            return await _buffered(upstream, service, out_headers["x-request-id"], on_close)
        return StreamingResponse(
            _relay(upstream, service, on_close),
            status_code=upstream.status_code,
            headers=response_headers(upstream.headers, out_headers["x-request-id"]),
            background=BackgroundTask(_finish, upstream, on_close),
        )


BUFFER_LIMIT = 1_048_576
SHARDS = 8


def _client(*, max_connections: int, keepalive: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
        follow_redirects=False,
        trust_env=False,
    )


def _small(upstream: httpx.Response) -> bool:
    """A sized, non-SSE answer: read whole and sent as one body. A StreamingResponse costs a
    task group and a disconnect listener per request, most of the proxy's time on a list."""
    length = upstream.headers.get("content-length", "")
    event_stream = upstream.headers.get("content-type", "").startswith("text/event-stream")
    return length.isdigit() and int(length) <= BUFFER_LIMIT and not event_stream


async def _buffered(
    upstream: httpx.Response, service: str, request_id: str, on_close: Callable[[], None] | None
) -> Response:
    try:
        # raw bytes: the content-encoding header is passed through unchanged
        body = b"".join([chunk async for chunk in upstream.aiter_raw()])
    except httpx.TransportError as exc:
        log.warning("upstream %s broke mid-response: %s", service, exc)
        return _unavailable(502, f"the {service} service broke off its answer; retry shortly")
    finally:
        await upstream.aclose()
        _close(on_close)
    return Response(
        body,
        status_code=upstream.status_code,
        headers=response_headers(upstream.headers, request_id),
    )


def forward_headers(request: Request, extra: dict[str, str]) -> dict[str, str]:
    """Client headers minus hop-by-hop ones, plus forwarding and correlation headers."""
    out = {k.lower(): v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    client = request.client.host if request.client else "unknown"
    prior = out.get("x-forwarded-for")
    out["x-forwarded-for"] = f"{prior}, {client}" if prior else client
    out["x-forwarded-proto"] = request.url.scheme
    out["x-forwarded-host"] = request.headers.get("host", "")
    out.setdefault("x-request-id", uuid.uuid4().hex)
    out.update({k.lower(): v for k, v in extra.items()})
    return out


def response_headers(headers: httpx.Headers, request_id: str) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
    out["x-request-id"] = request_id
    if out.get("content-type", "").startswith("text/event-stream"):
        out["x-accel-buffering"] = "no"  # tell any proxy in front of us not to buffer SSE
    return out


def _query_without_token(request: Request) -> str:
    # the token moved into the Authorization header; keep it out of upstream access logs
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "access_token"]
    return urlencode(items)


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(limit)
        yield chunk


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body over {limit} bytes")


async def _relay(
    upstream: httpx.Response, service: str, on_close: Callable[[], None] | None
) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:
        # headers are already sent; all we can do is end the stream
        log.warning("upstream %s broke mid-response: %s", service, exc)
    finally:
        # also runs when the client goes away mid-stream (the generator is closed)
        await upstream.aclose()
        _close(on_close)


async def _finish(upstream: httpx.Response, on_close: Callable[[], None] | None) -> None:
    try:
        await upstream.aclose()
    finally:
        _close(on_close)


def _once(fn: Callable[[], None] | None) -> Callable[[], None] | None:
    if fn is None:
        return None
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call


def _close(on_close: Callable[[], None] | None) -> None:
    if on_close is not None:
        on_close()


def _unavailable(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers={"Retry-After": "2"})
