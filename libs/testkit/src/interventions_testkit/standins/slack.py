"""A Slack stand-in: a real HTTP server for incoming webhooks (`POST /services/T/B/secret`,
answers `ok` or 400 `invalid_blocks`/`no_text`) and the Web API `chat.postMessage` (bearer
token, channel, thread_ts of an earlier message; answers `{"ok": ..., "ts": ...}`). Block Kit
is checked against the documented limits; scripted 429s carry `Retry-After`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
    _clock: int = 0

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
        self._clock += 1
        return f"{1_700_000_000 + self._clock}.{self._clock:06d}"

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
        return check_message(body)


class _Handler(BaseHTTPRequestHandler):
    standin: SlackStandIn

    def log_message(self, *_: Any) -> None:
        pass

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
