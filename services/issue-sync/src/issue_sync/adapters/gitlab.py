"""GitLab REST v4 adapter (issues, notes, state_event close/reopen, search by marker)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from ..settings import GitLabConfig
from .base import AuthError, CloseReason, NewTicket, NotFound, Ticket, send

AUTH_HINT = "GITLAB_TOKEN needs the 'api' scope and at least Reporter on the project"
REPORTER = 20


class GitLabTracker:
    """Issues in one project; the ticket id is the issue iid."""

    provider = "gitlab"

    def __init__(self, cfg: GitLabConfig, *, timeout: float = 15.0):
        self.cfg = cfg
        self.project = f"/api/v4/projects/{quote(cfg.project_id, safe='')}"
        self.client = httpx.AsyncClient(
            base_url=cfg.url,
            timeout=timeout,
            headers={
                "PRIVATE-TOKEN": cfg.token.get_secret_value(),
                "User-Agent": "interventions-issue-sync",
            },
        )

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        return await send(self.client, method, path, what, auth_hint=AUTH_HINT, **kw)

    async def open(self, ticket: NewTicket) -> Ticket:
        body = {
            "title": ticket.title,
            "description": ticket.body,
            "labels": ",".join(ticket.labels),
        }
        r = await self._call("POST", f"{self.project}/issues", "create GitLab issue", json=body)
        doc = r.json()
        return Ticket(external_id=str(doc["iid"]), url=str(doc["web_url"]))

    async def comment(self, external_id: str, body: str) -> None:
        await self._call(
            "POST",
            f"{self.project}/issues/{external_id}/notes",
            f"comment on GitLab issue #{external_id}",
            json={"body": body},
        )

    async def close(self, external_id: str, reason: CloseReason) -> None:
        await self._state(external_id, "close")

    async def reopen(self, external_id: str) -> None:
        await self._state(external_id, "reopen")

    async def _state(self, external_id: str, event: str) -> None:
        await self._call(
            "PUT",
            f"{self.project}/issues/{external_id}",
            f"{event} GitLab issue #{external_id}",
            json={"state_event": event},
        )

    async def find_by_marker(self, marker: str) -> Ticket | None:
        r = await self._call(
            "GET",
            f"{self.project}/issues",
            "search GitLab issues",
            params={"search": marker, "in": "description", "per_page": 20},
        )
        for item in r.json():
            if f"<!-- {marker} -->" in (item.get("description") or ""):
                return Ticket(external_id=str(item["iid"]), url=str(item["web_url"]))
        return None

    async def verify(self) -> str:
        pid = self.cfg.project_id
        try:
            r = await self._call("GET", self.project, f"read project {pid}")
        except NotFound:
            raise NotFound(
                f"unknown project {pid} at {self.cfg.url} (or the token cannot see it)",
                status_code=404,
            ) from None
        except AuthError as exc:
            what = "missing scope" if exc.status_code == 403 else "bad token"
            raise AuthError(
                f"{what}: GitLab answered HTTP {exc.status_code} for project {pid}; {AUTH_HINT}",
                status_code=exc.status_code,
            ) from None
        return _access_problems(pid, r.json())

    async def aclose(self) -> None:
        await self.client.aclose()


def _access_problems(pid: str, doc: dict[str, Any]) -> str:
    perms = doc.get("permissions") or {}
    levels = [
        (perms.get(k) or {}).get("access_level") or 0 for k in ("project_access", "group_access")
    ]
    if perms and max(levels) < REPORTER:
        raise AuthError(
            f"missing scope: the token's user has no Reporter access to project {pid}",
            status_code=403,
        )
    if doc.get("issues_enabled") is False:
        raise AuthError(f"issues are disabled on project {pid}", status_code=403)
    name = doc.get("path_with_namespace") or pid
    return f"OK: GitLab project {name} reachable and writable"
