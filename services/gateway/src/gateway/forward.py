"""The hot read path: an authorized `GET`/`HEAD` under `/api` is forwarded over pooled
keep-alive HTTP/1.1 connections on asyncio streams, the answer's bytes relayed unchanged.

httpx cost the gateway ~1.8 ms of CPU per list request (request and response models, header
normalisation, its connection pool's bookkeeping); this path writes the request head itself and
reads the answer's head and sized body directly. It runs inside the app's middleware (the
security headers, body-size limit, request metrics and CORS apply as before) and takes only the
plain case: a bearer token in the Authorization header whose principal has the route's role,
a pinned or prefixed service route, not the SSE stream, no request body. Everything else (no
or bad token, 403, 404, the SSE stream, `?access_token=`, writes) goes to the FastAPI routes
in `edge.py`, which answer exactly as before; so does a request whose upstream refused a new
connection (the httpx proxy then reports it).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import orjson
from interventions_platform import tracing
from interventions_platform.auth import TokenStore
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import routes
from .proxy import BUFFER_LIMIT

log = logging.getLogger(__name__)

# hop-by-hop headers (RFC 9110 7.6.1) and those this path sets itself
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
_SET_HERE = frozenset(
    {b"authorization", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
_NO_BODY_STATUS = frozenset({204, 304})
_READ_CHUNK = 65_536
MAX_IDLE = 64  # idle keep-alive connections kept per upstream


class Connection:
    """One keep-alive HTTP/1.1 connection to an upstream."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class Refused(Exception):
    """No connection could be opened (or a fresh one broke before answering)."""


class Upstream:
    """Pooled connections to one service (LIFO: the warmest connection first)."""

    def __init__(self, name: str, base: str, *, connect_timeout: float, read_timeout: float):
        url = urlsplit(base)
        self.name, self.base = name, base
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.netloc = url.netloc.encode("latin-1")
        self.prefix = url.path.rstrip("/").encode("latin-1")
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.idle: list[Connection] = []

    async def _open(self) -> Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=BUFFER_LIMIT
                )
        except (OSError, TimeoutError) as exc:
            raise Refused(str(exc)) from exc
        return Connection(reader, writer)

    def _pooled(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def release(self, conn: Connection) -> None:
        if len(self.idle) < MAX_IDLE and conn.usable():
            self.idle.append(conn)
        else:
            conn.close()

    async def send(self, head: bytes) -> tuple[Connection, bytes]:
        """Write the request head; the connection and the answer's head. A pooled connection
        the service closed meanwhile (keep-alive timeout) is retried once on a new one: only
        bodiless idempotent requests come here."""
        conn = self._pooled()
        if conn is not None:
            try:
                return conn, await self._exchange(conn, head)
            except TimeoutError:  # an OSError: the service is slow, not gone
                conn.close()
                raise
            except (OSError, asyncio.IncompleteReadError):
                conn.close()
            except BaseException:
                conn.close()
                raise
        conn = await self._open()
        try:
            return conn, await self._exchange(conn, head)
        except TimeoutError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            raise Refused(str(exc)) from exc
        except BaseException:
            conn.close()
            raise

    async def _exchange(self, conn: Connection, head: bytes) -> bytes:
        conn.writer.write(head)
        async with asyncio.timeout(self.read_timeout):
            return await conn.reader.readuntil(b"\r\n\r\n")

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class Upstreams:
    """The pooled connections to every plain-HTTP service (a lifespan hook: closed at stop)."""

    def __init__(self, urls: dict[str, str], *, connect_timeout: float, read_timeout: float):
        self.by_service = {
            name: Upstream(name, base, connect_timeout=connect_timeout, read_timeout=read_timeout)
            for name, base in urls.items()
            if urlsplit(base).scheme == "http"
        }

    async def start(self) -> None:
        """Nothing to open: connections are made on first use."""

    async def stop(self) -> None:
        for upstream in self.by_service.values():
            upstream.close()


class Answer:
    """The parsed head of an upstream response."""

    __slots__ = ("chunked", "headers", "keep_alive", "length", "status")

    def __init__(self, raw: bytes, request_id: bytes):
        lines = raw.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:40]!r}")
        self.status = int(status_line[9:12])
        self.keep_alive = status_line.startswith(b"HTTP/1.1")
        self.length: int | None = None
        self.chunked = False
        headers: list[tuple[bytes, bytes]] = []
        event_stream = False
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = b"chunked" in value.lower()
            elif name == b"connection":
                if b"close" in value.lower():
                    self.keep_alive = False
            elif name == b"content-type":
                event_stream = value.startswith(b"text/event-stream")
            if name in _HOP or name == b"x-request-id":
                continue
            headers.append((name, value))
        headers.append((b"x-request-id", request_id))
        if event_stream:
            headers.append((b"x-accel-buffering", b"no"))
        self.headers = headers


class FastForward:
    """ASGI middleware: takes the plain authorized reads (see the module doc), passes the rest
    to the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        upstreams: Upstreams,
        route: object,
        tokens: Callable[[], TokenStore | None],
    ):
        self.app = app
        self.upstreams = upstreams.by_service
        self.route = route  # the edge route, so request metrics keep their label
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if path.startswith("/api/") and path not in routes.SSE_PATHS:
                handled = await self._forward(scope, path, send)
                if handled:
                    return
        await self.app(scope, receive, send)

    async def _forward(self, scope: Scope, path: str, send: Send) -> bool:
        """False: not taken, the app answers instead (nothing was sent)."""
        token = b""
        host = b""
        prior_for = b""
        request_id = b""
        seen_auth = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer" or seen_auth:
                    return False
                seen_auth = True
                token = token.strip()
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                prior_for = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"content-length":
                if value.strip() != b"0":
                    return False
            elif name in (b"transfer-encoding", b"expect"):
                return False
        query: bytes = scope.get("query_string", b"")
        if not token or b"access_token" in query:
            return False
        target = routes.resolve(scope["method"], path)
        if target is None:
            return False
        service, role = target
        upstream = self.upstreams.get(service)
        store = self.tokens()
        if upstream is None or store is None:
            return False
        principal = await store.resolve(token.decode("latin-1"))
        if principal is None or not principal.has(role):
            return False
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        client = scope.get("client")
        client_host = client[0].encode("latin-1") if client else b"unknown"
        head = self._head(scope, upstream, query, token, host, prior_for, client_host, request_id)
        scope["route"] = self.route
        try:
            conn, raw = await upstream.send(head)
        except Refused as exc:
            log.warning(
                "upstream %s refused a connection (%s): the httpx proxy answers", service, exc
            )
            return False
        except TimeoutError:
            await _json(
                send,
                504,
                f"the {service} service at {upstream.base} did not answer in time; retry shortly",
            )
            return True
        await self._relay(scope, upstream, conn, raw, request_id, send)
        return True

    def _head(
        self,
        scope: Scope,
        upstream: Upstream,
        query: bytes,
        token: bytes,
        host: bytes,
        prior_for: bytes,
        client_host: bytes,
        request_id: bytes,
    ) -> bytes:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = upstream.prefix + raw_path + (b"?" + query if query else b"")
        forwarded_for = prior_for + b", " + client_host if prior_for else client_host
        parts = [
            scope["method"].encode(),
            b" ",
            target,
            b" HTTP/1.1\r\nhost: ",
            upstream.netloc,
        ]
        for name, value in scope["headers"]:
            if name in _HOP or name in _SET_HERE or name == b"x-request-id":
                continue
            parts += (b"\r\n", name, b": ", value)
        parts += (
            b"\r\nx-forwarded-for: ",
            forwarded_for,
            b"\r\nx-forwarded-proto: ",
            scope.get("scheme", "http").encode(),
            b"\r\nx-forwarded-host: ",
            host,
            b"\r\nx-request-id: ",
            request_id,
            b"\r\nauthorization: Bearer ",
            token,
        )
        traceparent = tracing.current_traceparent() if tracing.exporting() else None
        if traceparent:
            parts += (b"\r\ntraceparent: ", traceparent.encode())
        parts.append(b"\r\n\r\n")
        return b"".join(parts)

    async def _relay(
        self,
        scope: Scope,
        upstream: Upstream,
        conn: Connection,
        raw: bytes,
        request_id: bytes,
        send: Send,
    ) -> None:
        try:
            answer = Answer(raw, request_id)
        except ValueError as exc:
            conn.close()
            log.warning("upstream %s answered garbage: %s", upstream.name, exc)
            await _json(
                send, 502, f"the {upstream.name} service broke off its answer; retry shortly"
            )
            return
        bodiless = scope["method"] == "HEAD" or answer.status in _NO_BODY_STATUS
        if bodiless or (answer.length is not None and answer.length <= BUFFER_LIMIT):
            await self._sized(upstream, conn, answer, 0 if bodiless else answer.length or 0, send)
        else:
            await self._streamed(upstream, conn, answer, send)

    async def _sized(
        self, upstream: Upstream, conn: Connection, answer: Answer, length: int, send: Send
    ) -> None:
        try:
            async with asyncio.timeout(upstream.read_timeout):
                body = await conn.reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            conn.close()
            log.warning("upstream %s broke mid-response: %r", upstream.name, exc)
            await _json(
                send, 502, f"the {upstream.name} service broke off its answer; retry shortly"
            )
            return
        if answer.keep_alive:
            upstream.release(conn)
        else:
            conn.close()
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _streamed(
        self, upstream: Upstream, conn: Connection, answer: Answer, send: Send
    ) -> None:
        """Chunked, unsized or large answers: relayed piece by piece as they arrive."""
        reuse = answer.keep_alive and (answer.chunked or answer.length is not None)
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        try:
            async with asyncio.timeout(None) as deadline:
                pieces = _pieces(conn.reader, answer)
                while True:
                    deadline.reschedule(asyncio.get_running_loop().time() + upstream.read_timeout)
                    piece = await pieces()
                    if not piece:
                        break
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            # headers are already sent; all we can do is end the answer
            log.warning("upstream %s broke mid-response: %r", upstream.name, exc)
            reuse = False
        except BaseException:
            conn.close()
            raise
        if reuse:
            upstream.release(conn)
        else:
            conn.close()
        await send({"type": "http.response.body", "body": b""})


def _pieces(reader: asyncio.StreamReader, answer: Answer) -> Callable[[], Awaitable[bytes]]:
    """A reader of the body's next piece (b"" at its end) for each framing."""
    if answer.chunked:

        async def chunk() -> bytes:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b""
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            return data

        return chunk
    if answer.length is not None:
        left = answer.length

        async def sized() -> bytes:
            nonlocal left
            if left <= 0:
                return b""
            data = await reader.read(min(left, _READ_CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            return data

        return sized

    async def until_close() -> bytes:
        return await reader.read(_READ_CHUNK)

    return until_close


async def _json(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status in (503, 504):
        headers.append((b"retry-after", b"2"))
    message: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(message)
    await send({"type": "http.response.body", "body": body})
