"""Which service serves each `/api` path, and the role the gateway demands at the edge.

The pinned table mirrors DESIGN.md ("Gateway API"); it also lets /docs list every pinned path
while an upstream is down. Unpinned paths under a known prefix are still proxied: reads need
viewer, writes responder, and the owning service re-checks the exact role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from interventions_platform.auth import Role


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    service: str
    role: Role
    summary: str


PINNED: tuple[Route, ...] = (
    Route("GET", "/api/incidents", "incidents", "viewer", "List incidents (filters, cursor)"),
    Route("GET", "/api/incidents/{id}", "incidents", "viewer", "One incident (as_of: rebuilt)"),
    Route("GET", "/api/incidents/{id}/events", "incidents", "viewer", "Incident timeline"),
    *(
        Route("POST", f"/api/incidents/{{id}}/{verb}", "incidents", "responder", f"{verb.title()}")
        for verb in (
            "acknowledge",
            "mitigate",
            "resolve",
            "close",
            "reopen",
            "severity",
            "escalate",
            "notes",
        )
    ),
    Route("GET", "/api/detections", "incidents", "viewer", "Decisions taken for a key"),
    Route("GET", "/api/playbooks/actions", "playbooks", "viewer", "Action registry"),
    Route(
        "POST",
        "/api/playbooks/incidents/{id}/actions/dry-run",
        "playbooks",
        "responder",
        "Dry-run an action",
    ),
    Route(
        "POST",
        "/api/playbooks/incidents/{id}/actions/execute",
        "playbooks",
        "responder",
        "Execute an action (approval when required)",
    ),
    Route(
        "GET",
        "/api/playbooks/incidents/{id}/actions",
        "playbooks",
        "viewer",
        "Action history of an incident",
    ),
    Route("GET", "/api/sse/events", "notifier", "viewer", "Server-Sent Events stream"),
    Route("POST", "/api/signals", "gateway", "producer", "Ingest signals (CloudEvents)"),
)

# longest prefix first
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/metrics/", "incidents"),
    ("/api/incidents", "incidents"),
    ("/api/detections", "incidents"),
    ("/api/playbooks", "playbooks"),
    ("/api/approvals", "playbooks"),
    ("/api/sse", "notifier"),
    ("/api/notifications", "notifier"),
    ("/api/watcher", "watcher"),
    ("/api/issue-sync", "issue-sync"),
    ("/api/issues", "issue-sync"),
)

SSE_PATHS = frozenset({"/api/sse/events"})


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")


_COMPILED = [(r, _pattern(r.path)) for r in PINNED]


def resolve(method: str, path: str) -> tuple[str, Role] | None:
    """(service, role needed) for a request, or None when no service serves the path."""
    for route, pattern in _COMPILED:
        if route.method == method and pattern.match(path):
            return route.service, route.role
    for prefix, service in PREFIXES:
        if path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/"):
            return service, "viewer" if method in ("GET", "HEAD", "OPTIONS") else "responder"
    return None
