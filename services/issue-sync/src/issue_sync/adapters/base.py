"""The IssueTracker port, our error types, and the HTTP helpers every vendor adapter shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import httpx
from interventions_platform import tracing

CloseReason = Literal["completed", "not_planned"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket in the outside tracker: its id there (number or key) and its web URL."""

    external_id: str
    url: str


@dataclass(frozen=True, slots=True)
class NewTicket:
    """What we open: title, markdown body, labels and the hidden marker it must carry."""

    title: str
    body: str
    marker: str
    labels: tuple[str, ...] = field(default_factory=tuple)


class TrackerError(Exception):
    """A tracker call failed; `message` says what to do about it."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class AuthError(TrackerError):
    """401/403: the credentials are wrong or lack a permission; retrying will not help."""


class NotFound(TrackerError):
    """404: the project or the ticket does not exist (or the token cannot see it)."""


class Rejected(TrackerError):
    """4xx other than auth/404/429: the request was refused as invalid."""


class RateLimited(TrackerError):
    """429 (or a 403 with an exhausted rate limit): wait `retry_after` seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, status_code: int | None = 429):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class Unavailable(TrackerError):
    """5xx, timeouts, refused connections: the tracker is down for now."""

    retryable = True

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class IssueTracker(Protocol):
    """The port: everything issue-sync needs from GitHub, GitLab or Jira."""

    provider: str

    async def open(self, ticket: NewTicket) -> Ticket: ...

    async def comment(self, external_id: str, body: str) -> None: ...

    async def close(self, external_id: str, reason: CloseReason) -> None: ...

    async def reopen(self, external_id: str) -> None: ...

    async def find_by_marker(self, marker: str) -> Ticket | None:
        """The ticket whose body (or labels, for Jira) carries this marker, if any."""
        ...

    async def verify(self) -> str:
        """Call the cheapest authenticated endpoint; returns a one-line OK or raises."""
        ...

    async def aclose(self) -> None: ...


def retry_after_seconds(
    headers: httpx.Headers, *, now: float | None = None, default: float = 60.0
) -> float:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (epoch)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value.strip())
        try:
            return max(0.0, float(parsedate_to_datetime(value).timestamp()) - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(1.0, float(reset) - now)
    return default


def raise_for(response: httpx.Response, what: str, *, auth_hint: str) -> None:
    """Turn a vendor error response into our error, naming what failed and how to fix it."""
    code = response.status_code
    if code < 400:
        return
    detail = _vendor_message(response)
    if code == 429 or (code == 403 and _rate_limited_403(response, detail)):
        wait = retry_after_seconds(response.headers)
        raise RateLimited(
            f"{what}: rate limited, retrying in {wait:.0f}s", retry_after=wait, status_code=code
        )
    if code in (401, 403):
        raise AuthError(
            f"{what}: HTTP {code} {detail}; check token/permissions ({auth_hint})", status_code=code
        )
    if code == 404:
        raise NotFound(f"{what}: not found (HTTP 404) {detail}".rstrip(), status_code=code)
    if code >= 500:
        retry = retry_after_seconds(response.headers, default=-1.0)
        raise Unavailable(
            f"{what}: tracker unavailable (HTTP {code})",
            status_code=code,
            retry_after=retry if retry >= 0 else None,
        )
    raise Rejected(f"{what}: rejected (HTTP {code}) {detail}".rstrip(), status_code=code)


def _rate_limited_403(response: httpx.Response, detail: str) -> bool:
    """GitHub answers an exhausted primary limit with `X-RateLimit-Remaining: 0` and a
    secondary limit with a `retry-after` header and/or a "secondary rate limit" message."""
    h = response.headers
    return (
        h.get("x-ratelimit-remaining") == "0"
        or "retry-after" in h
        or "secondary rate limit" in detail.lower()
    )


def _vendor_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("message", "error", "errorMessages", "errors"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


async def send(
    client: httpx.AsyncClient, method: str, url: str, what: str, *, auth_hint: str, **kw: Any
) -> httpx.Response:
    """One HTTP call with transport failures and error statuses mapped to our errors."""
    full = str(client.base_url.join(url))
    with tracing.client_span(client.base_url.host, method, full) as span:
        try:
            response = await client.request(method, url, **kw)
        except httpx.TimeoutException:
            tracing.set_status(span, None, "timeout")
            raise Unavailable(f"{what}: {client.base_url} timed out") from None
        except httpx.TransportError as exc:
            tracing.set_status(span, None, type(exc).__name__)
            raise Unavailable(f"{what}: cannot reach {client.base_url} ({exc})") from None
        tracing.set_status(span, response.status_code)
    raise_for(response, what, auth_hint=auth_hint)
    return response
