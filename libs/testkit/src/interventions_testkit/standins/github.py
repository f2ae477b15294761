"""GitHub REST stand-in: a real HTTP server that checks requests against the documented API
(auth, Accept, X-GitHub-Api-Version, User-Agent, JSON bodies), keeps issues and comments,
answers issue search, and can be told to fail. Also home of `StandIn`, the small threaded
HTTP server base the GitLab and Jira stand-ins share.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import uvicorn
from interventions_platform.embedded import free_port
from starlette.requests import Request
from starlette.responses import Response

Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Request, re.Match[str], Any], Awaitable[Reply]]


@dataclass
class Call:
    """One request as received (and what the stand-in answered)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    at: float
    status: int = 0


@dataclass
class Fault:
    remaining: int
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class StandIn:
    """A vendor API on 127.0.0.1:<free port>, served by uvicorn in a background thread."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self._faults: list[Fault] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- test controls -------------------------------------------------------------------
    def fail_next(
        self, n: int, status: int, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next n requests with `status` (e.g. 429 + Retry-After, 503, 401)."""
        with self.lock:
            self._faults.append(Fault(n, status, dict(headers or {}), body))

    def go_down(self, status: int = 503) -> None:
        """Fail every request until `come_back()`."""
        self.fail_next(10**9, status, body={"message": "Service Unavailable"})

    def come_back(self) -> None:
        with self.lock:
            self._faults.clear()

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        with self.lock:
            return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]

    # -- server --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def start(self) -> Self:
        self.port = free_port()
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            log_level="error",
            lifespan="off",
            access_log=False,
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, daemon=True, name=type(self).__name__
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def violation(self, message: str) -> None:
        with self.lock:
            self.violations.append(message)

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self._dispatch(request)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")
        # raw path: GitLab ids may be url-encoded paths (`acme%2Fops`)
        path = (request.scope.get("raw_path") or b"").decode() or request.url.path
        call = Call(
            request.method,
            path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            time.time(),
        )
        with self.lock:
            self.calls.append(call)
            fault = self._take_fault()
        if fault is not None:
            reply: Reply = (
                fault.status,
                fault.body or {"message": "injected failure"},
                fault.headers,
            )
        else:
            reply = await self._route(request, path, body)
        call.status = reply[0]
        headers = reply[2] if len(reply) == 3 else {}
        content = b"" if reply[1] is None else orjson.dumps(reply[1])
        return Response(
            content, status_code=reply[0], headers=headers, media_type="application/json"
        )

    def _take_fault(self) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    async def _route(self, request: Request, path: str, body: Any) -> Reply:
        problem = self.check_common(request, body)
        if problem is not None:
            return problem
        for method, rx, handler in self._routes:
            m = rx.fullmatch(path)
            if m and method == request.method:
                return await handler(request, m, body)
        self.violation(f"undocumented endpoint {request.method} {path}")
        return 404, {"message": "Not Found"}

    def check_common(self, request: Request, body: Any) -> Reply | None:
        """Per-vendor header checks; None when the request may proceed."""
        return None

    def need_json(self, request: Request, body: Any) -> Reply | None:
        if request.method in ("POST", "PUT", "PATCH"):
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("application/json"):
                self.violation(f"{request.method} {request.url.path}: content-type {ctype!r}")
                return 415, {"message": "Unsupported Media Type"}
            if not isinstance(body, dict):
                self.violation(f"{request.method} {request.url.path}: body is not a JSON object")
                return 400, {"message": "Problems parsing JSON"}
        return None


def shape(
    where: str, body: dict[str, Any], required: dict[str, Any], optional: dict[str, Any]
) -> str | None:
    """A problem with a JSON object's keys and types, or None when it matches."""
    for key, typ in required.items():
        if key not in body:
            return f"{where}: missing {key!r}"
        if not isinstance(body[key], typ):
            return f"{where}: {key!r} must be {typ}"
    allowed = {**required, **optional}
    for key, value in body.items():
        if key not in allowed:
            return f"{where}: unknown field {key!r}"
        if value is not None and not isinstance(value, allowed[key]):
            return f"{where}: {key!r} must be {allowed[key]}"
    return None


@dataclass
class GitHubIssue:
    number: int
    title: str
    body: str
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    comments: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


Shape = tuple[dict[str, Any], dict[str, Any]]
_ISSUE_CREATE: Shape = (
    {"title": str},
    {
        "body": str,
        "labels": list,
        "assignees": list,
        "milestone": (int, str),
        "assignee": str,
        "type": str,
    },
)
_ISSUE_UPDATE: Shape = (
    {},
    {
        "title": str,
        "body": str,
        "labels": list,
        "assignees": list,
        "milestone": (int, str),
        "assignee": str,
        "state": str,
        "state_reason": str,
        "type": str,
    },
)
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})  # content-creating for the limit
_REASONS = {"closed": {"completed", "not_planned", "duplicate"}, "open": {"reopened"}}


class GitHubStandIn(StandIn):
    """The GitHub REST API for one repository (issues, comments, search)."""

    def __init__(
        self,
        *,
        token: str = "ghp-test",
        owner: str = "acme",
        repo: str = "ops",
        scopes: str | None = "repo",
        can_push: bool = True,
        secondary_limit: int = 80,
        secondary_window: float = 60.0,
    ) -> None:
        super().__init__()
        self.token, self.owner, self.repo = token, owner, repo
        self.scopes, self.can_push = scopes, can_push
        # GitHub's secondary rate limit: at most 80 content-creating requests per minute
        self.secondary_limit, self.secondary_window = secondary_limit, secondary_window
        self.writes: list[float] = []  # arrival times of accepted content-creating requests
        self.rate_limited = 0  # how many requests were answered with a secondary-limit 403
        self.issues: dict[int, GitHubIssue] = {}
        self.created = 0
        base = rf"/repos/{re.escape(owner)}/{re.escape(repo)}"
        self.route("GET", base, self._repo)
        self.route("POST", base + "/issues", self._create)
        self.route("GET", base + "/issues", self._list)
        self.route("POST", base + r"/issues/(\d+)/comments", self._comment)
        self.route("PATCH", base + r"/issues/(\d+)", self._update)
        self.route("GET", r"/search/issues", self._search)

    def html_url(self, number: int) -> str:
        return f"https://github.example/{self.owner}/{self.repo}/issues/{number}"

    def check_common(self, request: Request, body: Any) -> Reply | None:
        h = request.headers
        if h.get("authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
            return 401, {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
            }
        if h.get("accept") != "application/vnd.github+json":
            self.violation(f"Accept header was {h.get('accept')!r}")
        if h.get("x-github-api-version") != "2022-11-28":
            self.violation(f"X-GitHub-Api-Version was {h.get('x-github-api-version')!r}")
            return 400, {"message": "Unsupported API version"}
        if not h.get("user-agent"):
            self.violation("no User-Agent header")
            return 403, {"message": "Request forbidden by administrative rules"}
        if request.method in _WRITES:
            limited = self._secondary_limit()
            if limited is not None:
                return limited
        return self.need_json(request, body)

    def _secondary_limit(self) -> Reply | None:
        """Count a content-creating request; past the limit answer the way GitHub documents
        it: 403 with `retry-after` and a message naming the secondary rate limit."""
        now = time.time()
        with self.lock:
            recent = [t for t in self.writes if now - t < self.secondary_window]
            if len(recent) >= self.secondary_limit:
                self.rate_limited += 1
                wait = max(1, int(self.secondary_window - (now - recent[0])) + 1)
                return (
                    403,
                    {
                        "message": "You have exceeded a secondary rate limit. Please wait a "
                        "few minutes before you try again.",
                        "documentation_url": "https://docs.github.com/rest/using-the-rest-api/"
                        "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    },
                    {"retry-after": str(wait)},
                )
            self.writes.append(now)
        return None

    async def _repo(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        headers = {"X-OAuth-Scopes": self.scopes} if self.scopes is not None else {}
        return (
            200,
            {
                "full_name": f"{self.owner}/{self.repo}",
                "has_issues": True,
                "permissions": {
                    "admin": False,
                    "push": self.can_push,
                    "pull": True,
                    "triage": self.can_push,
                },
            },
            headers,
        )

    async def _create(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problem = shape("create issue", body, *_ISSUE_CREATE)
        if problem or not all(isinstance(x, str) for x in body.get("labels", [])):
            self.violation(problem or "labels must be strings")
            return 422, {"message": "Validation Failed", "errors": [problem]}
        with self.lock:
            self.created += 1
            number = self.created  # numbers are never reused, even after a deletion
            self.issues[number] = GitHubIssue(
                number,
                body["title"],
                body.get("body") or "",
                list(body.get("labels", [])),
                history=["opened"],
            )
        return 201, self._doc(self.issues[number])

    def _doc(self, issue: GitHubIssue) -> dict[str, Any]:
        return {
            "number": issue.number,
            "html_url": self.html_url(issue.number),
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "labels": [{"name": x} for x in issue.labels],
        }

    async def _comment(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problem = shape("create comment", body, {"body": str}, {})
        if problem:
            self.violation(problem)
            return 422, {"message": "Validation Failed"}
        issue = self.issues.get(int(m.group(1)))
        if issue is None:
            return 404, {"message": "Not Found"}
        with self.lock:
            issue.comments.append(body["body"])
            issue.history.append("comment")
        return 201, {"id": len(issue.comments), "body": body["body"]}

    async def _update(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        problem = shape("update issue", body, *_ISSUE_UPDATE)
        state, reason = body.get("state"), body.get("state_reason")
        if not problem and state is not None and state not in _REASONS:
            problem = f"state {state!r} is not open or closed"
        if not problem and reason is not None and reason not in _REASONS.get(state or "", set()):
            problem = f"state_reason {reason!r} does not go with state {state!r}"
        if problem:
            self.violation(problem)
            return 422, {"message": "Validation Failed", "errors": [problem]}
        issue = self.issues.get(int(m.group(1)))
        if issue is None:
            return 404, {"message": "Not Found"}
        with self.lock:
            if state is not None and state != issue.state:
                issue.history.append(state if state == "closed" else "reopened")
                issue.state, issue.state_reason = state, reason
        return 200, self._doc(issue)

    async def _list(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        q = request.query_params
        ok = {
            "state": {"open", "closed", "all"},
            "sort": {"created", "updated", "comments"},
            "direction": {"asc", "desc"},
        }
        bad = [k for k, allowed in ok.items() if k in q and q[k] not in allowed]
        if bad or int(q.get("per_page", "30")) > 100:
            self.violation(f"list issues with invalid {bad or 'per_page'}")
            return 422, {"message": "Validation Failed"}
        state = q.get("state", "open")
        with self.lock:
            found = [i for i in self.issues.values() if state in ("all", i.state)]
        found.sort(key=lambda i: i.number, reverse=q.get("direction", "desc") == "desc")
        return 200, [self._doc(i) for i in found[: int(q.get("per_page", "30"))]]

    async def _search(self, request: Request, m: re.Match[str], body: Any) -> Reply:
        q = request.query_params.get("q", "")
        phrase = re.search(r'"([^"]+)"', q)
        if phrase is None or f"repo:{self.owner}/{self.repo}" not in q:
            self.violation(f"search q {q!r} lacks a quoted phrase or repo qualifier")
            return 422, {"message": "Validation Failed"}
        with self.lock:
            hits = [self._doc(i) for i in self.issues.values() if phrase.group(1) in i.body]
        return 200, {"total_count": len(hits), "incomplete_results": False, "items": hits}
