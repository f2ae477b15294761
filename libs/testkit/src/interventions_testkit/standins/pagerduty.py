"""A PagerDuty Events API v2 stand-in: a real HTTP server that checks every request against
the documented format (`POST /v2/enqueue`; routing_key, event_action, dedup_key <= 255,
payload.summary <= 1024, source, severity critical|error|warning|info, links, images),
answers like PagerDuty (202, 400 with errors, scripted 429/5xx) and records everything."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._http import base_url, close, serve

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}
TOP_LEVEL = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
PAYLOAD = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}
MAX_BYTES = 512 * 1024


@dataclass
class Call:
    """One request as received, what was answered, and why (for failed checks)."""

    at: float
    path: str
    body: Any
    status: int
    errors: list[str] = field(default_factory=list)


@dataclass
class Scripted:
    status: int
    body: Any = None
    retry_after: str | None = None


def check_event(body: Any) -> list[str]:
    """Everything wrong with an Events API v2 body, in PagerDuty's words where it has them."""
    if not isinstance(body, dict):
        return ["Event object is invalid: the body must be a JSON object"]
    errors = [f"unknown field '{k}'" for k in body if k not in TOP_LEVEL]
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a 32 character integration key")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        errors += _check_payload(body.get("payload"))
    errors += _check_links(body.get("links"), body.get("images"))
    return errors


def _check_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is required for a trigger and must be an object"]
    errors = [f"unknown field 'payload.{k}'" for k in payload if k not in PAYLOAD]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is required")
    elif len(summary) > 1024:
        errors.append(f"'payload.summary' is {len(summary)} characters; the limit is 1024")
    if not isinstance(payload.get("source"), str) or not payload["source"].strip():
        errors.append("'payload.source' is required")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be critical, error, warning or info")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str):
        errors.append("'payload.custom_details' must be an object")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    return errors


def _check_links(links: Any, images: Any) -> list[str]:
    errors = []
    for name, value, required in (("links", links, "href"), ("images", images, "src")):
        if value is None:
            continue
        if not isinstance(value, list) or not all(
            isinstance(x, dict) and isinstance(x.get(required), str) for x in value
        ):
            errors.append(f"'{name}' must be a list of objects with '{required}'")
    return errors


@dataclass
class PagerDutyStandIn:
    """`start()`, then point PAGERDUTY_EVENTS_URL at `url`. `script` answers the next requests
    (after checking them) with given statuses, e.g. two 429s; then 202 as PagerDuty does."""

    calls: list[Call] = field(default_factory=list)
    script: list[Scripted] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> PagerDutyStandIn:
        owner = self

        class Handler(_Handler):
            standin = owner

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        close(self._server)

    @property
    def url(self) -> str:
        return base_url(self._server) + "/v2/enqueue"

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies answered 202, in arrival order."""
        with self._lock:
            return [c.body for c in self.calls if c.status == 202]

    def invalid(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.errors]

    def answer(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        errors = check_event(body)
        with self._lock:
            scripted = self.script.pop(0) if self.script and not errors else None
            status, reply, headers = _reply(body, errors, scripted)
            self.calls.append(Call(time.monotonic(), "/v2/enqueue", body, status, errors))
        return status, reply, headers


def _reply(
    body: Any, errors: list[str], scripted: Scripted | None
) -> tuple[int, Any, dict[str, str]]:
    if errors:
        return (
            400,
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            {},
        )
    if scripted is not None:
        headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
        default = (
            {
                "status": "throttle event",
                "message": "Requests for this service are "
                "arriving too quickly. Please retry later.",
            }
            if scripted.status == 429
            else {"status": "error", "message": "scripted failure"}
        )
        return scripted.status, scripted.body if scripted.body is not None else default, headers
    return (
        202,
        {
            "status": "success",
            "message": "Event processed",
            "dedup_key": body.get("dedup_key") or "generated",
        },
        {},
    )


class _Handler(BaseHTTPRequestHandler):
    standin: PagerDutyStandIn

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/v2/enqueue":
            return self._send(404, {"status": "not found", "message": f"no route {self.path}"}, {})
        if "application/json" not in (self.headers.get("content-type") or ""):
            return self._send(
                400,
                {"status": "invalid event", "message": "Content-Type must be application/json"},
                {},
            )
        if length > MAX_BYTES:
            return self._send(400, {"status": "invalid event", "message": "Event too large"}, {})
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, {"status": "invalid event", "message": "Malformed JSON"}, {})
        self._send(*self.standin.answer(body))

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
