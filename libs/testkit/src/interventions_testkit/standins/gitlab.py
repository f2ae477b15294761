"""GitLab REST v4 stand-in: checks PRIVATE-TOKEN and JSON bodies, keeps issues and notes,
honours state_event close/reopen, answers `?search=` and can be told to fail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from .github import Reply, Shape, StandIn, shape


@dataclass
class GitLabIssue:
    iid: int
    title: str
    description: str
    labels: list[str]
    state: str = "opened"
    notes: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


_CREATE: Shape = (
    {"title": str},
    {
        "description": str,
        "labels": (str, list),
        "assignee_ids": list,
        "confidential": bool,
        "due_date": str,
        "issue_type": str,
    },
)
_UPDATE: Shape = (
    {},
    {
        "title": str,
        "description": str,
        "labels": (str, list),
        "state_event": str,
        "add_labels": (str, list),
        "remove_labels": (str, list),
    },
)


class GitLabStandIn(StandIn):
    """The GitLab API for one project, addressable by numeric id or url-encoded path."""

    def __init__(
        self,
        *,
        token: str = "glpat-test",
        project_id: str = "77",
        path: str = "acme/ops",
        access_level: int = 30,
    ) -> None:
        super().__init__()
        self.token, self.project_id, self.path = token, project_id, path
        self.access_level = access_level
        self.issues: dict[int, GitLabIssue] = {}
        self.created = 0
        base = r"/api/v4/projects/([^/]+)"
        self.route("GET", base, self._project)
        self.route("POST", base + "/issues", self._create)
        self.route("GET", base + "/issues", self._search)
        self.route("POST", base + r"/issues/(\d+)/notes", self._note)
        self.route("PUT", base + r"/issues/(\d+)", self._update)

    def web_url(self, iid: int) -> str:
        return f"https://gitlab.example/{self.path}/-/issues/{iid}"

    def check_common(self, request: Request, body: Any) -> Reply | None:
        if request.headers.get("private-token") != self.token:
            return 401, {"message": "401 Unauthorized"}
        return self.need_json(request, body)

    def _known(self, m: re.Match[str]) -> bool:
        return unquote(m.group(1)) in (self.project_id, self.path)

    async def _project(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        if not self._known(m):
            return 404, {"message": "404 Project Not Found"}
        return 200, {
            "id": int(self.project_id),
            "path_with_namespace": self.path,
            "issues_enabled": True,
            "permissions": {
                "project_access": {"access_level": self.access_level},
                "group_access": None,
            },
        }

    async def _create(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        if not self._known(m):
            return 404, {"message": "404 Project Not Found"}
        problem = shape("create issue", body, *_CREATE)
        if problem:
            self.violation(problem)
            return 400, {"message": problem}
        labels = body.get("labels") or []
        labels = [x for x in labels.split(",") if x] if isinstance(labels, str) else labels
        with self.lock:
            self.created += 1
            iid = self.created
            self.issues[iid] = GitLabIssue(
                iid, body["title"], body.get("description") or "", labels, history=["opened"]
            )
        return 201, self._doc(self.issues[iid])

    def _doc(self, issue: GitLabIssue) -> dict[str, Any]:
        return {
            "id": 1000 + issue.iid,
            "iid": issue.iid,
            "title": issue.title,
            "description": issue.description,
            "labels": issue.labels,
            "state": issue.state,
            "web_url": self.web_url(issue.iid),
        }

    async def _search(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        if not self._known(m):
            return 404, {"message": "404 Project Not Found"}
        term = request.query_params.get("search", "")
        scope = request.query_params.get("in", "title,description")
        if not term or scope not in ("title", "description", "title,description"):
            self.violation(f"issue search with search={term!r} in={scope!r}")
            return 400, {"message": "in does not have a valid value"}
        with self.lock:
            hits = [
                self._doc(i)
                for i in self.issues.values()
                if term in i.description or ("title" in scope and term in i.title)
            ]
        return 200, hits

    async def _note(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problem = shape("create note", body, {"body": str}, {"internal": bool, "created_at": str})
        if problem:
            self.violation(problem)
            return 400, {"message": problem}
        issue = self.issues.get(int(m.group(2))) if self._known(m) else None
        if issue is None:
            return 404, {"message": "404 Issue Not Found"}
        with self.lock:
            issue.notes.append(body["body"])
            issue.history.append("comment")
        return 201, {"id": len(issue.notes), "body": body["body"], "system": False}

    async def _update(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problem = shape("update issue", body, *_UPDATE)
        event = body.get("state_event")
        if not problem and event not in (None, "close", "reopen"):
            problem = f"state_event {event!r} is not close or reopen"
        if problem:
            self.violation(problem)
            return 400, {"message": problem}
        issue = self.issues.get(int(m.group(2))) if self._known(m) else None
        if issue is None:
            return 404, {"message": "404 Issue Not Found"}
        with self.lock:
            new = {"close": "closed", "reopen": "opened"}.get(event or "", issue.state)
            if new != issue.state:
                issue.history.append("closed" if new == "closed" else "reopened")
                issue.state = new
        return 200, self._doc(issue)
