"""Outside systems behind one small Protocol: a Sink sends one delivery and says how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed delivery row, as the sinks see it."""

    incident_id: int
    sink: str
    transition: str
    headline: str
    snapshot: dict[str, Any]
    team: str
    thread_ts: str | None = None
    idempotency_key: str = ""
    # set when an earlier attempt may have reached the vendor (its start): a sink that can
    # read back looks for that message before sending again
    uncertain_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    detail: str
    retryable: bool = False
    retry_after_s: float | None = None
    ref: str | None = None  # vendor reference, e.g. the Slack message ts
    target: str | None = None


class Sink(Protocol):
    async def send(self, out: Outgoing) -> Outcome: ...


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if present and sane."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, min(float(value), 3600.0)) if value else None
    except ValueError:
        return None


def classify(response: httpx.Response, *, target: str | None = None) -> Outcome:
    """2xx ok; 429 and 5xx retryable (honouring Retry-After); anything else failed as is."""
    code = response.status_code
    body = response.text[:2000]
    if 200 <= code < 300:
        return Outcome(True, code, body, target=target)
    if code == 429 or code >= 500:
        return Outcome(
            False, code, body, retryable=True, retry_after_s=retry_after(response), target=target
        )
    return Outcome(False, code, body, target=target)


def transport_error(exc: httpx.HTTPError, target: str | None = None) -> Outcome:
    text = str(exc)
    # a webhook URL is a secret: never let one into an event or a log line
    detail = type(exc).__name__ + ("" if "://" in text or not text else f": {text[:500]}")
    return Outcome(False, None, detail, retryable=True, target=target)
