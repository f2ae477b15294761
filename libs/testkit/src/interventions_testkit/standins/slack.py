"""A Slack stand-in: a real HTTP server for incoming webhooks (`POST /services/T/B/secret`,
answers `ok` or 400 `invalid_blocks`/`no_text`) and the Web API `chat.postMessage` (bearer
token, channel, thread_ts of an earlier message, optional message `metadata`; answers
`{"ok": ..., "ts": ...}`), `conversations.history` (a channel's top-level messages, newest
first) and `conversations.replies` (one thread, oldest first), both GET with `channel`
(and `ts`), `oldest`/`latest`/`inclusive`, `limit`, `cursor` and `include_all_metadata`.
Block Kit and metadata are checked against the documented limits; scripted 429s carry
`Retry-After`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._http import base_url, close, serve

BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text"}
WEBHOOK_PATH = "/services/T0000TEST/B0000TEST/standinsecret000000000000"


@dataclass
class Message:
    """A message Slack accepted."""

    at: float
    via: str  # "webhook" or the channel
    body: dict[str, Any]
    ts: str
    thread_ts: str | None = None

    @property
    def metadata(self) -> dict[str, Any] | None:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else None

    @property
    def idempotency_key(self) -> str | None:
        """The key the notifier put in the message metadata (bot mode), if any."""
        payload = (self.metadata or {}).get("event_payload") or {}
        key = payload.get("idempotency_key")
        return key if isinstance(key, str) else None


@dataclass
class Call:
    at: float
    path: str
    body: Any
    status: int
    error: str | None = None


def _text_obj(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: must be a text object of type plain_text or mrkdwn"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}.text: required"]
    if len(text) > limit:
        return [f"{where}.text: {len(text)} characters; the limit is {limit}"]
    if "emoji" in obj and obj["type"] != "plain_text":
        return [f"{where}: emoji is only allowed on plain_text"]
    return []


def _check_block(block: Any, i: int) -> list[str]:
    where = f"blocks[{i}]"
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return [f"{where}: unknown block type"]
    kind = block["type"]
    if kind == "header":
        return _text_obj(block.get("text"), f"{where}.text", 150, plain_only=True)
    if kind == "section":
        errors: list[str] = []
        if "text" not in block and "fields" not in block:
            return [f"{where}: a section needs text or fields"]
        if "text" in block:
            errors += _text_obj(block["text"], f"{where}.text", 3000)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            errors.append(f"{where}.fields: at most 10")
        else:
            for j, f in enumerate(fields):
                errors += _text_obj(f, f"{where}.fields[{j}]", 2000)
        return errors
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return [f"{where}.elements: 1 to 10 elements"]
        return [
            e
            for j, el in enumerate(elements)
            for e in _text_obj(el, f"{where}.elements[{j}]", 3000)
        ]
    return []


def check_message(body: Any) -> str | None:
    """Slack's error code for a bad message body, or None when it is fine."""
    if not isinstance(body, dict):
        return "invalid_payload"
    blocks = body.get("blocks")
    text = body.get("text")
    if blocks is None and not (isinstance(text, str) and text.strip()):
        return "no_text"
    if blocks is not None:
        if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
            return "invalid_blocks"
        if any(_check_block(b, i) for i, b in enumerate(blocks)):
            return "invalid_blocks"
    return None


def check_metadata(meta: Any) -> str | None:
    """Slack's error for a bad `metadata` argument: an object (or its JSON text) with a
    non-empty `event_type` and an object `event_payload` of strings, numbers, booleans and
    objects or arrays of objects of those."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return "invalid_metadata_format"
    if not isinstance(meta, dict) or set(meta) - {"event_type", "event_payload"}:
        return "invalid_metadata_format"
    kind, payload = meta.get("event_type"), meta.get("event_payload")
    if not isinstance(kind, str) or not kind or not isinstance(payload, dict):
        return "invalid_metadata_format"
    if not all(_payload_value(v, nested=True) for v in payload.values()):
        return "invalid_metadata_schema"
    return None


def _payload_value(v: Any, nested: bool) -> bool:
    if isinstance(v, str | int | float | bool):
        return True
    if not nested:
        return False
    objects = v if isinstance(v, list) else [v]
    return all(
        isinstance(o, dict) and all(_payload_value(x, nested=False) for x in o.values())
        for o in objects
    )


def block_errors(body: dict[str, Any]) -> list[str]:
    """The detailed block problems (for assertions in tests)."""
    return [e for i, b in enumerate(body.get("blocks") or []) for e in _check_block(b, i)]


@dataclass
class SlackStandIn:
    """`start()`; SLACK_WEBHOOK_URL = `webhook_url`, SLACK_API_URL = `api_url`."""

    bot_token: str = "xoxb-standin-token"
    channels: set[str] = field(default_factory=lambda: {"#incidents", "C0INCIDENTS"})
    messages: list[Message] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    script: list[tuple[int, str]] = field(default_factory=list)  # (status, Retry-After)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_us: int = 0

    def start(self) -> SlackStandIn:
        owner = self

        class Handler(_Handler):
            standin = owner

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        close(self._server)

    @property
    def base(self) -> str:
        return base_url(self._server)

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api"

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def _next_ts(self) -> str:
        """Like Slack's: the wall-clock time in microseconds, unique and increasing."""
        self._last_us = max(self._last_us + 1, int(time.time() * 1_000_000))
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _scripted(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]] | None:
        if not self.script:
            return None
        status, retry_after = self.script.pop(0)
        self.calls.append(Call(time.monotonic(), path, body, status, "scripted"))
        return status, "rate_limited" if status == 429 else "error", {"Retry-After": retry_after}

    def webhook(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if path != WEBHOOK_PATH:
                self.calls.append(Call(time.monotonic(), path, body, 404, "no_service"))
                return 404, "no_service", {}
            scripted = self._scripted(path, body)
            if scripted:
                return scripted
            error = check_message(body)
            self.calls.append(Call(time.monotonic(), path, body, 400 if error else 200, error))
            if error:
                return 400, error, {}
            self.messages.append(Message(time.monotonic(), "webhook", body, self._next_ts()))
            return 200, "ok", {}

    def post_message(self, auth: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            scripted = self._scripted("/api/chat.postMessage", body)
            if scripted:
                return scripted
            error = self._api_error(auth, body)
            self.calls.append(Call(time.monotonic(), "/api/chat.postMessage", body, 200, error))
            if error:
                return 200, {"ok": False, "error": error}, {}
            ts = self._next_ts()
            if isinstance(body.get("metadata"), str):
                body = {**body, "metadata": json.loads(body["metadata"])}
            self.messages.append(
                Message(time.monotonic(), body["channel"], body, ts, body.get("thread_ts"))
            )
            return (
                200,
                {
                    "ok": True,
                    "channel": body["channel"],
                    "ts": ts,
                    "message": {"text": body.get("text"), "ts": ts},
                },
                {},
            )

    def _api_error(self, auth: str, body: Any) -> str | None:
        if not auth.startswith("Bearer "):
            return "not_authed"
        if auth.removeprefix("Bearer ") != self.bot_token:
            return "invalid_auth"
        if not isinstance(body, dict) or body.get("channel") not in self.channels:
            return "channel_not_found"
        thread = body.get("thread_ts")
        if thread is not None and not any(
            m.ts == thread and m.via == body["channel"] for m in self.messages
        ):
            return "thread_not_found"
        if "metadata" in body:
            error = check_metadata(body["metadata"])
            if error:
                return error
        return check_message(body)

    def read(
        self, method: str, auth: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """conversations.history / conversations.replies over the accepted messages."""
        path = f"/api/{method}"
        with self._lock:
            scripted = self._scripted(path, query)
            if scripted:
                return scripted
            doc = self._read(method, auth, query)
            self.calls.append(Call(time.monotonic(), path, query, 200, doc.get("error")))
            return 200, doc, {}

    def _read(self, method: str, auth: str, q: dict[str, str]) -> dict[str, Any]:
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else q.get("token")
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        channel = q.get("channel")
        if not channel or (method == "conversations.replies" and not q.get("ts")):
            return {"ok": False, "error": "invalid_arguments"}
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        try:
            oldest = float(q.get("oldest") or 0)
            latest = float(q.get("latest") or 1e12)
            limit = int(q.get("limit") or (1000 if method == "conversations.replies" else 100))
            start = int(q.get("cursor") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        limit = max(1, min(limit, 999))
        inclusive = q.get("inclusive") in ("1", "true")
        in_channel = [m for m in self.messages if m.via == channel]
        if method == "conversations.history":
            found = [m for m in reversed(in_channel) if not m.thread_ts]
        else:
            parent = [m for m in in_channel if m.ts == q["ts"]]
            if not parent:
                return {"ok": False, "error": "thread_not_found"}
            found = parent + [m for m in in_channel if m.thread_ts == q["ts"]]

        def in_range(m: Message) -> bool:
            t = float(m.ts)
            if inclusive:
                return oldest <= t <= latest
            return oldest < t < latest

        found = [m for m in found if in_range(m)]
        page = found[start : start + limit]
        more = start + limit < len(found)
        with_meta = q.get("include_all_metadata") in ("1", "true")
        return {
            "ok": True,
            "messages": [_listed(m, with_meta) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }


def _listed(m: Message, with_meta: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.body.get("text") or ""}
    if m.thread_ts:
        doc["thread_ts"] = m.thread_ts
    if with_meta and m.metadata is not None:
        doc["metadata"] = m.metadata
    return doc


class _Handler(BaseHTTPRequestHandler):
    standin: SlackStandIn

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        method = url.path.removeprefix("/api/")
        if method not in ("conversations.history", "conversations.replies"):
            return self._send(404, {"ok": False, "error": "unknown_method"}, {})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        auth = self.headers.get("authorization") or ""
        self._send(*self.standin.read(method, auth, query))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if "application/json" not in (self.headers.get("content-type") or ""):
            return self._send(400, "invalid_payload", {})
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, "invalid_payload", {})
        if self.path == "/api/chat.postMessage":
            auth = self.headers.get("authorization") or ""
            return self._send(*self.standin.post_message(auth, body))
        self._send(*self.standin.webhook(self.path, body))

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        is_text = isinstance(body, str)
        data = body.encode() if is_text else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if is_text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
