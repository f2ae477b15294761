"""Jira Cloud REST v3 stand-in: basic auth, ADF validation of descriptions and comments,
a To Do / In Progress / Done workflow driven by transition ids, JQL label search, and the
user / project / permission endpoints `check issue-provider` calls."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .github import Reply, StandIn

INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
_CELL = {
    "paragraph",
    "bulletList",
    "orderedList",
    "codeBlock",
    "heading",
    "rule",
    "blockquote",
    "panel",
}
CHILDREN: dict[str, set[str]] = {
    "doc": {
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "blockquote",
        "rule",
        "table",
        "panel",
    },
    "paragraph": INLINE,
    "heading": INLINE,
    "bulletList": {"listItem"},
    "orderedList": {"listItem"},
    "listItem": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "blockquote": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "panel": {"paragraph", "heading", "bulletList", "orderedList"},
    "codeBlock": {"text"},
    "table": {"tableRow"},
    "tableRow": {"tableHeader", "tableCell"},
    "tableHeader": _CELL,
    "tableCell": _CELL,
}
LEAVES = {"rule", "hardBreak", "text", "mention", "emoji", "inlineCard", "date", "status"}
NON_EMPTY = {
    "listItem",
    "bulletList",
    "orderedList",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "blockquote",
}
MARKS = {"strong", "em", "strike", "code", "link", "underline", "textColor", "subsup"}


def adf_problems(doc: Any) -> list[str]:
    """Every way `doc` is not a valid ADF document (empty list when it is)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        return ["root: must be an object with type 'doc'"]
    if doc.get("version") != 1:
        return ["root: version must be 1"]
    out: list[str] = []
    _node(doc, "doc", out)
    return out


def _node(node: Any, where: str, out: list[str]) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        out.append(f"{where}: not a node")
        return
    kind = node["type"]
    if kind == "text":
        _text(node, where, out)
        return
    if kind == "heading" and node.get("attrs", {}).get("level") not in range(1, 7):
        out.append(f"{where}: heading needs attrs.level 1..6")
    content = node.get("content", [])
    if kind in LEAVES:
        if content:
            out.append(f"{where}: {kind} takes no content")
        return
    if not isinstance(content, list):
        out.append(f"{where}: content must be a list")
        return
    if kind in NON_EMPTY and not content:
        out.append(f"{where}: {kind} needs content")
    allowed = CHILDREN.get(kind)
    if allowed is None:
        out.append(f"{where}: unknown node type {kind!r}")
        return
    for i, child in enumerate(content):
        ctype = child.get("type") if isinstance(child, dict) else None
        if ctype not in allowed:
            out.append(f"{where}.content[{i}]: {ctype!r} not allowed in {kind}")
        elif kind == "codeBlock" and child.get("marks"):
            out.append(f"{where}.content[{i}]: code block text takes no marks")
        else:
            _node(child, f"{where}.content[{i}]", out)
    if kind == "listItem" and content and content[0].get("type") not in ("paragraph", "codeBlock"):
        out.append(f"{where}: a listItem starts with a paragraph")


def _text(node: dict[str, Any], where: str, out: list[str]) -> None:
    if not isinstance(node.get("text"), str) or not node["text"]:
        out.append(f"{where}: text must be a non-empty string")
    marks = node.get("marks", [])
    kinds = [m.get("type") for m in marks if isinstance(m, dict)]
    for m in marks:
        if not isinstance(m, dict) or m.get("type") not in MARKS:
            out.append(f"{where}: unknown mark {m!r}")
        elif m["type"] == "link" and not (m.get("attrs") or {}).get("href"):
            out.append(f"{where}: link mark needs attrs.href")
    if "code" in kinds and set(kinds) - {"code", "link"}:
        out.append(f"{where}: code mark only combines with link, got {kinds}")
    if len(kinds) != len(set(kinds)):
        out.append(f"{where}: repeated mark")


# id, name, from statuses, to status, category of the target
WORKFLOW = (
    ("21", "Start Progress", ("To Do",), "In Progress", "indeterminate"),
    ("41", "Done", ("To Do", "In Progress"), "Done", "done"),
    ("51", "Reopen", ("Done",), "To Do", "new"),
)


@dataclass
class JiraIssue:
    key: str
    summary: str
    description: dict[str, Any]
    labels: list[str]
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


class JiraStandIn(StandIn):
    """Jira Cloud for one project (issues, comments, transitions, JQL search)."""

    def __init__(
        self,
        *,
        email: str = "bot@example.com",
        api_token: str = "jira-test",
        project_key: str = "OPS",
        permissions: tuple[str, ...] = ("CREATE_ISSUES", "ADD_COMMENTS", "TRANSITION_ISSUES"),
    ) -> None:
        super().__init__()
        self.email, self.api_token, self.project_key = email, api_token, project_key
        self.granted = set(permissions)
        self.issues: dict[str, JiraIssue] = {}
        self.created = 0
        k = r"/rest/api/3/issue/([A-Z][A-Z0-9]*-\d+)"
        self.route("POST", "/rest/api/3/issue", self._create)
        self.route("GET", k, self._get)
        self.route("POST", k + "/comment", self._comment)
        self.route("GET", k + "/transitions", self._transitions)
        self.route("POST", k + "/transitions", self._transition)
        self.route("GET", "/rest/api/3/search/jql", self._search)
        self.route("GET", "/rest/api/3/myself", self._myself)
        self.route("GET", r"/rest/api/3/project/([^/]+)", self._project)
        self.route("GET", "/rest/api/3/mypermissions", self._permissions)

    def check_common(self, request: Request, body: Any) -> Reply | None:
        basic = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return 401, {"errorMessages": ["Client must be authenticated to access this resource."]}
        return self.need_json(request, body)

    def _bad(self, problem: str, field_name: str = "") -> Reply:
        self.violation(problem)
        return 400, {
            "errorMessages": [] if field_name else [problem],
            "errors": {field_name: problem} if field_name else {},
        }

    async def _create(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return self._bad("body must be {fields: {...}}")
        problem = self._fields_problem(fields)
        if problem:
            return self._bad(problem[1], problem[0])
        with self.lock:
            self.created += 1
            key = f"{self.project_key}-{self.created}"
            self.issues[key] = JiraIssue(
                key,
                fields["summary"],
                fields["description"],
                list(fields.get("labels", [])),
                history=["opened"],
            )
        return 201, {
            "id": str(10000 + self.created),
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{key}",
        }

    def _fields_problem(self, f: dict[str, Any]) -> tuple[str, str] | None:
        if (f.get("project") or {}).get("key") != self.project_key:
            return "project", f"project must be {{key: {self.project_key!r}}}"
        if not isinstance(f.get("summary"), str) or "\n" in f["summary"] or len(f["summary"]) > 255:
            return "summary", "summary must be one line of at most 255 characters"
        if not (f.get("issuetype") or {}).get("name") and not (f.get("issuetype") or {}).get("id"):
            return "issuetype", "issuetype must name or id an issue type"
        labels = f.get("labels", [])
        if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x for x in labels):
            return "labels", "labels must be strings without spaces"
        problems = adf_problems(f.get("description"))
        if problems:
            return "description", "Operation value must be an Atlassian Document: " + problems[0]
        return None

    def _issue(self, m: re.Match[str]) -> JiraIssue | None:
        return self.issues.get(m.group(1))

    async def _get(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        issue = self._issue(m)
        if issue is None:
            return 404, {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."]
            }
        category = next((w[4] for w in WORKFLOW if w[3] == issue.status), "new")
        return 200, {
            "key": issue.key,
            "fields": {
                "summary": issue.summary,
                "status": {"name": issue.status, "statusCategory": {"key": category}},
            },
        }

    async def _comment(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problems = adf_problems(body.get("body"))
        if problems:
            return self._bad("Comment body is not a valid Atlassian Document: " + problems[0])
        issue = self._issue(m)
        if issue is None:
            return 404, {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."]
            }
        with self.lock:
            issue.comments.append(body["body"])
            issue.history.append("comment")
        return 201, {"id": str(len(issue.comments)), "body": body["body"]}

    async def _transitions(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        issue = self._issue(m)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"]}
        return 200, {
            "transitions": [
                {"id": tid, "name": name, "to": {"name": to, "statusCategory": {"key": cat}}}
                for tid, name, sources, to, cat in WORKFLOW
                if issue.status in sources
            ]
        }

    async def _transition(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        issue = self._issue(m)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"]}
        tid = (body.get("transition") or {}).get("id")
        step = next((w for w in WORKFLOW if w[0] == tid and issue.status in w[2]), None)
        if step is None:
            return self._bad(f"Transition id '{tid}' is not valid for this issue.")
        with self.lock:
            issue.status = step[3]
            issue.history.append("closed" if step[4] == "done" else "reopened")
        return 204, None

    async def _search(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        jql = request.query_params.get("jql", "")
        label = re.search(r'labels\s*=\s*"([^"]+)"', jql)
        project = re.search(r'project\s*=\s*"?([A-Z0-9]+)"?', jql)
        if label is None or project is None:
            return self._bad(f"unsupported JQL {jql!r}")
        with self.lock:
            hits = [
                i
                for i in self.issues.values()
                if project.group(1) == self.project_key and label.group(1) in i.labels
            ]
        return 200, {
            "issues": [
                {
                    "id": str(10000 + n),
                    "key": i.key,
                    "fields": {"summary": i.summary, "labels": i.labels},
                }
                for n, i in enumerate(hits, 1)
            ],
            "isLast": True,
        }

    async def _myself(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        return 200, {
            "accountId": "5b10ac8d82e05b22cc7d4ef5",
            "emailAddress": self.email,
            "displayName": "Interventions Bot",
            "active": True,
        }

    async def _project(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        if m.group(1) != self.project_key:
            return 404, {"errorMessages": [f"No project could be found with key '{m.group(1)}'."]}
        return 200, {"id": "10000", "key": self.project_key, "name": "Operations"}

    async def _permissions(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        wanted = request.query_params.get("permissions", "")
        if not wanted:
            return self._bad("The permissions query parameter is required.")
        return 200, {
            "permissions": {
                p: {"key": p, "havePermission": p in self.granted} for p in wanted.split(",")
            }
        }
