"""GitHub REST adapter (issues, comments, state with state_reason, search by marker)."""

from __future__ import annotations

from typing import Any

import httpx

from ..settings import GitHubConfig
from .base import AuthError, CloseReason, NewTicket, NotFound, Ticket, send

API_VERSION = "2022-11-28"
AUTH_HINT = "GITHUB_TOKEN needs Issues: read and write on the repository"


def hidden(marker: str) -> str:
    return f"<!-- {marker} -->"


class GitHubTracker:
    """Issues in one repository; the ticket id is the issue number."""

    provider = "github"

    def __init__(self, cfg: GitHubConfig, *, timeout: float = 15.0):
        self.cfg = cfg
        self.repo_path = f"/repos/{cfg.owner}/{cfg.repo}"
        self.client = httpx.AsyncClient(
            base_url=cfg.api_url,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {cfg.token.get_secret_value()}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "interventions-issue-sync",
            },
        )

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        return await send(self.client, method, path, what, auth_hint=AUTH_HINT, **kw)

    async def open(self, ticket: NewTicket) -> Ticket:
        body = {"title": ticket.title, "body": ticket.body, "labels": list(ticket.labels)}
        r = await self._call("POST", f"{self.repo_path}/issues", "create GitHub issue", json=body)
        doc = r.json()
        return Ticket(external_id=str(doc["number"]), url=str(doc["html_url"]))

    async def comment(self, external_id: str, body: str) -> None:
        await self._call(
            "POST",
            f"{self.repo_path}/issues/{external_id}/comments",
            f"comment on GitHub issue #{external_id}",
            json={"body": body},
        )

    async def close(self, external_id: str, reason: CloseReason) -> None:
        await self._call(
            "PATCH",
            f"{self.repo_path}/issues/{external_id}",
            f"close GitHub issue #{external_id}",
            json={"state": "closed", "state_reason": reason},
        )

    async def reopen(self, external_id: str) -> None:
        await self._call(
            "PATCH",
            f"{self.repo_path}/issues/{external_id}",
            f"reopen GitHub issue #{external_id}",
            json={"state": "open", "state_reason": "reopened"},
        )

    async def find_by_marker(self, marker: str) -> Ticket | None:
        # The issue list is consistent at once, search is indexed later: check the newest
        # issues first (the crash-then-restart case), then search for older ones.
        r = await self._call(
            "GET",
            f"{self.repo_path}/issues",
            "list GitHub issues",
            params={"state": "all", "sort": "created", "direction": "desc", "per_page": 50},
        )
        found = _with_marker(r.json(), marker)
        if found is not None:
            return found
        q = f'"{marker}" repo:{self.cfg.owner}/{self.cfg.repo} is:issue in:body'
        r = await self._call(
            "GET", "/search/issues", "search GitHub issues", params={"q": q, "per_page": 10}
        )
        return _with_marker(r.json().get("items", []), marker)

    async def verify(self) -> str:
        slug = f"{self.cfg.owner}/{self.cfg.repo}"
        try:
            r = await self._call("GET", self.repo_path, f"read repository {slug}")
        except NotFound:
            raise NotFound(
                f"unknown repository {slug} at {self.cfg.api_url} (or the token cannot see it)",
                status_code=404,
            ) from None
        except AuthError as exc:
            raise AuthError(
                f"bad token: GitHub answered HTTP {exc.status_code} for {slug}; check GITHUB_TOKEN",
                status_code=exc.status_code,
            ) from None
        return _repo_problems(slug, r)

    async def aclose(self) -> None:
        await self.client.aclose()


def _with_marker(items: list[dict[str, Any]], marker: str) -> Ticket | None:
    for item in items:
        if "pull_request" not in item and hidden(marker) in (item.get("body") or ""):
            return Ticket(external_id=str(item["number"]), url=str(item["html_url"]))
    return None


def _repo_problems(slug: str, r: httpx.Response) -> str:
    doc = r.json()
    scopes = r.headers.get("x-oauth-scopes")
    if (
        scopes is not None
        and scopes.strip()
        and not {"repo", "public_repo"} & {s.strip() for s in scopes.split(",")}
    ):
        raise AuthError(
            f"missing scope: token for {slug} has scopes [{scopes}]; "
            "it needs 'repo' (or 'public_repo')",
            status_code=403,
        )
    if doc.get("has_issues") is False:
        raise AuthError(
            f"issues are disabled on {slug}; enable them in the repository settings",
            status_code=403,
        )
    perms = doc.get("permissions")
    if isinstance(perms, dict) and not (perms.get("push") or perms.get("triage")):
        raise AuthError(
            f"missing scope: the token can read {slug} but cannot write issues "
            "(needs triage/write access)",
            status_code=403,
        )
    return f"OK: GitHub repository {slug} reachable and writable"
