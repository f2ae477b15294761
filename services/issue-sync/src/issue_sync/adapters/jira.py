"""Jira Cloud REST v3 adapter: ADF bodies, marker labels found by JQL, transitions by name."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from ..settings import JiraConfig
from .adf import to_adf
from .base import AuthError, CloseReason, NewTicket, NotFound, Rejected, Ticket, send

AUTH_HINT = "JIRA_EMAIL/JIRA_API_TOKEN must belong to a user who can create and transition issues"
NEEDED = ("CREATE_ISSUES", "ADD_COMMENTS", "TRANSITION_ISSUES")


def marker_label(marker: str) -> str:
    """Jira labels take no spaces; the marker becomes `interventions-incident-<id>`."""
    return marker.replace(":", "-")


class JiraTracker:
    """Issues in one Jira project; the ticket id is the issue key (e.g. OPS-12)."""

    provider = "jira"

    def __init__(self, cfg: JiraConfig, *, timeout: float = 15.0):
        self.cfg = cfg
        basic = base64.b64encode(f"{cfg.email}:{cfg.api_token.get_secret_value()}".encode())
        self.client = httpx.AsyncClient(
            base_url=cfg.url,
            timeout=timeout,
            headers={
                "Authorization": f"Basic {basic.decode()}",
                "Accept": "application/json",
                "User-Agent": "interventions-issue-sync",
            },
        )

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        return await send(self.client, method, path, what, auth_hint=AUTH_HINT, **kw)

    async def open(self, ticket: NewTicket) -> Ticket:
        fields = {
            "project": {"key": self.cfg.project_key},
            "summary": ticket.title[:250],
            "issuetype": {"name": self.cfg.issue_type},
            "description": to_adf(ticket.body),
            "labels": [*(_label(x) for x in ticket.labels), marker_label(ticket.marker)],
        }
        r = await self._call(
            "POST", "/rest/api/3/issue", "create Jira issue", json={"fields": fields}
        )
        key = str(r.json()["key"])
        return Ticket(external_id=key, url=f"{self.cfg.url}/browse/{key}")

    async def comment(self, external_id: str, body: str) -> None:
        await self._call(
            "POST",
            f"/rest/api/3/issue/{external_id}/comment",
            f"comment on Jira issue {external_id}",
            json={"body": to_adf(body)},
        )

    async def close(self, external_id: str, reason: CloseReason) -> None:
        await self._transition(external_id, self.cfg.close_transitions, done=True)

    async def reopen(self, external_id: str) -> None:
        await self._transition(external_id, self.cfg.reopen_transitions, done=False)

    async def _transition(self, key: str, names: tuple[str, ...], *, done: bool) -> None:
        what = f"{'close' if done else 'reopen'} Jira issue {key}"
        r = await self._call("GET", f"/rest/api/3/issue/{key}/transitions", what)
        available = r.json().get("transitions", [])
        chosen = _by_name(available, names)
        if chosen is None:
            if await self._is_done(key) == done:
                return  # already where we want it: nothing to do
            offered = ", ".join(str(t.get("name")) for t in available) or "none"
            raise Rejected(
                f"{what}: no transition named {'/'.join(names)} (offered: {offered}); "
                "set issue_provider.config.close_transitions to your workflow's names"
            )
        await self._call(
            "POST",
            f"/rest/api/3/issue/{key}/transitions",
            what,
            json={"transition": {"id": str(chosen["id"])}},
        )

    async def _is_done(self, key: str) -> bool:
        r = await self._call(
            "GET", f"/rest/api/3/issue/{key}", f"read Jira issue {key}", params={"fields": "status"}
        )
        status = r.json().get("fields", {}).get("status", {})
        return bool(status.get("statusCategory", {}).get("key") == "done")

    async def find_by_marker(self, marker: str) -> Ticket | None:
        jql = f'project = "{self.cfg.project_key}" AND labels = "{marker_label(marker)}"'
        r = await self._call(
            "GET",
            "/rest/api/3/search/jql",
            "search Jira issues (JQL)",
            params={"jql": jql, "fields": "summary,labels", "maxResults": 5},
        )
        for issue in r.json().get("issues", []):
            key = str(issue["key"])
            return Ticket(external_id=key, url=f"{self.cfg.url}/browse/{key}")
        return None

    async def verify(self) -> str:
        try:
            me = (await self._call("GET", "/rest/api/3/myself", "read the Jira user")).json()
        except (AuthError, NotFound) as exc:
            raise AuthError(
                f"bad token: Jira answered HTTP {exc.status_code} for "
                f"{self.cfg.email}; check JIRA_EMAIL and JIRA_API_TOKEN",
                status_code=exc.status_code,
            ) from None
        key = self.cfg.project_key
        try:
            await self._call("GET", f"/rest/api/3/project/{key}", f"read Jira project {key}")
        except NotFound:
            raise NotFound(
                f"unknown project {key} at {self.cfg.url} (or {self.cfg.email} cannot browse it)",
                status_code=404,
            ) from None
        await self._permissions(key)
        return f"OK: Jira project {key} reachable as {me.get('displayName') or self.cfg.email}"

    async def _permissions(self, key: str) -> None:
        r = await self._call(
            "GET",
            "/rest/api/3/mypermissions",
            f"read permissions on {key}",
            params={"projectKey": key, "permissions": ",".join(NEEDED)},
        )
        perms = r.json().get("permissions", {})
        missing = [p for p in NEEDED if not perms.get(p, {}).get("havePermission")]
        if missing:
            raise AuthError(
                f"missing scope: {self.cfg.email} lacks {', '.join(missing)} on project {key}",
                status_code=403,
            )

    async def aclose(self) -> None:
        await self.client.aclose()


def _label(text: str) -> str:
    return text.replace(" ", "-")


def _by_name(transitions: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The first transition whose own name or target status matches, in preference order."""
    for wanted in names:
        for t in transitions:
            target = (t.get("to") or {}).get("name", "")
            if wanted.lower() in (str(t.get("name", "")).lower(), str(target).lower()):
                return t
    return None
