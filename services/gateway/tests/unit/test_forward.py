"""The fast read path (`gateway.forward`) against a raw HTTP/1.1 server on loopback: what it
takes and what it leaves to the app, the request head it writes, each body framing, a pooled
connection the server closed, and a service that does not answer in time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from gateway import forward
from interventions_platform.auth import TokenEntry, TokenStore, hash_token
from starlette.types import Message, Receive, Scope, Send

VIEWER = "iv_viewer_token"
PRODUCER = "iv_producer_token"
STORE = TokenStore(
    entries=[
        TokenEntry(name="v", hash=hash_token(VIEWER), roles=["viewer"]),
        TokenEntry(name="p", hash=hash_token(PRODUCER), roles=["producer"]),
    ]
)
Reply = Callable[[bytes], bytes]


@dataclass
class Server:
    """Answers each request head with `reply(head)`; `close_after` closes the connection after
    that many answers without saying so (as a keep-alive timeout does)."""

    reply: Reply
    close_after: int | None = None
    delay: float = 0.0
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                await asyncio.sleep(self.delay)
                writer.write(self.reply(head))
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply, **kw: Any) -> Server:
        state = Server(reply, **kw)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        state.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return state

    yield start
    for s in servers:
        s.close()


def sized(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Reply:
    return lambda _: (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nserver: up\r\n"
        + extra
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def chunked(_: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    )


def middleware(
    port: int, *, read_timeout: float = 5.0
) -> tuple[forward.FastForward, list[Scope], forward.Upstreams]:
    passed: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        passed.append(scope)

    pools = forward.Upstreams(
        {"incidents": f"http://127.0.0.1:{port}", "watcher": "https://elsewhere"},
        connect_timeout=1.0,
        read_timeout=read_timeout,
    )
    return (
        forward.FastForward(app, upstreams=pools, route="edge", tokens=lambda: STORE),
        passed,
        pools,
    )


def scope(
    path: str = "/api/incidents",
    *,
    method: str = "GET",
    query: bytes = b"status=open&limit=50",
    token: str | None = VIEWER,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Scope:
    hs = [(b"host", b"gw.example"), (b"accept", b"application/json")]
    if token is not None:
        hs.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": hs + (headers or []),
        "client": ("10.1.2.3", 5555),
        "scheme": "http",
    }


async def call(mw: forward.FastForward, sc: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await mw(sc, receive, send)
    return sent


def body_of(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def headers_of(sent: list[Message]) -> dict[bytes, bytes]:
    return dict(sent[0]["headers"])


async def test_an_authorized_read_is_relayed_unchanged_with_forwarding_headers(
    serve: Callable[..., Any],
) -> None:
    server = await serve(sized(extra=b"connection: keep-alive\r\nx-request-id: theirs\r\n"))
    mw, passed, _ = middleware(server.port)
    sent = await call(mw, scope(headers=[(b"x-request-id", b"rid-1")]))
    assert not passed
    assert sent[0]["status"] == 200
    assert body_of(sent) == b'{"ok":true}'
    headers = headers_of(sent)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"server"] == b"up"
    assert headers[b"x-request-id"] == b"rid-1"  # the caller's id, not the service's
    assert b"connection" not in headers  # hop-by-hop
    head = server.heads[0].decode()
    first, *lines = head.split("\r\n")
    assert first == "GET /api/incidents?status=open&limit=50 HTTP/1.1"
    seen = dict(line.split(": ", 1) for line in lines if line)
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["authorization"] == f"Bearer {VIEWER}"
    assert seen["x-forwarded-for"] == "10.1.2.3"
    assert seen["x-forwarded-host"] == "gw.example"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-request-id"] == "rid-1"
    assert seen["accept"] == "application/json"


async def test_connections_are_reused_and_a_closed_one_is_replaced(
    serve: Callable[..., Any],
) -> None:
    server = await serve(sized(), close_after=2)
    mw, _, _ = middleware(server.port)
    for _ in range(5):
        sent = await call(mw, scope())
        assert sent[0]["status"] == 200
        assert body_of(sent) == b'{"ok":true}'
        await asyncio.sleep(0.01)  # let the server's close arrive for some of them
    assert server.connections == 3  # two answers per connection


async def test_a_chunked_answer_is_relayed_piece_by_piece(serve: Callable[..., Any]) -> None:
    server = await serve(chunked)
    mw, _, _ = middleware(server.port)
    for _ in range(2):  # the connection stays usable after the last chunk
        sent = await call(mw, scope("/api/incidents/3/events"))
        assert sent[0]["status"] == 200
        assert body_of(sent) == b"hello world"
        assert sent[-1] == {"type": "http.response.body", "body": b""}
        assert b"transfer-encoding" not in headers_of(sent)
    assert server.connections == 1


async def test_head_reads_no_body(serve: Callable[..., Any]) -> None:
    server = await serve(lambda _: b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n")
    mw, _, _ = middleware(server.port)
    sent = await call(mw, scope(method="HEAD"))
    assert sent[0]["status"] == 200
    assert body_of(sent) == b""
    assert server.heads[0].startswith(b"HEAD /api/incidents?")


@pytest.mark.parametrize(
    "sc",
    [
        scope(token=None),  # 401 from the edge
        scope(token="wrong"),  # 401
        scope(token=PRODUCER),  # 403: producer does not imply viewer
        scope(query=b"access_token=x"),  # the query token is the SSE stream's only
        scope("/api/sse/events"),  # SSE: the httpx proxy streams it
        scope("/api/me"),  # the gateway's own route
        scope("/api/unknown"),  # 404 after auth
        scope(method="POST"),  # writes
        scope(headers=[(b"content-length", b"5")]),  # a GET with a body
        scope(headers=[(b"authorization", b"Bearer another")]),  # two tokens
        scope("/api/watcher/state"),  # an https upstream
        scope(token="x", headers=[]) | {"headers": [(b"authorization", b"Basic abc")]},
    ],
)
async def test_everything_else_is_left_to_the_app(serve: Callable[..., Any], sc: Scope) -> None:
    server = await serve(sized())
    mw, passed, _ = middleware(server.port)
    sent = await call(mw, sc)
    assert sent == []
    assert passed == [sc]
    assert server.heads == []


async def test_an_unreachable_service_is_left_to_the_app(serve: Callable[..., Any]) -> None:
    server = await serve(sized())
    mw, passed, pools = middleware(server.port)
    await pools.stop()
    pools.by_service["incidents"].port = 1  # nothing listens there
    sent = await call(mw, scope())
    assert sent == [] and len(passed) == 1  # the httpx proxy answers its 503


async def test_a_slow_service_is_a_504_naming_it(serve: Callable[..., Any]) -> None:
    server = await serve(sized(), delay=1.0)
    mw, _, _ = middleware(server.port, read_timeout=0.2)
    sent = await call(mw, scope())
    assert sent[0]["status"] == 504
    assert b"incidents service" in body_of(sent)
    assert len(server.heads) == 1  # not retried
