"""Slack: an incoming webhook, or a bot token with chat.postMessage threading updates.

In bot mode every message carries message metadata with its delivery's idempotency key, and
a delivery whose earlier attempt's outcome is unknown first reads the channel back
(conversations.history, or conversations.replies for a threaded update) from shortly before
that attempt: a message with its key is recorded as the one sent, so Slack gets it once. An
incoming webhook cannot be read back: such a delivery is simply sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from interventions_platform import tracing

from .. import payloads
from ..settings import Settings
from . import Outcome, Outgoing, classify, retry_after, transport_error

METADATA_EVENT = "interventions_notification"
LOOKBACK = timedelta(seconds=5)  # clock skew between us and Slack
PAGE = 200
MAX_PAGES = 10


class Slack:
    def __init__(self, client: httpx.AsyncClient, settings: Settings):
        self.client = client
        self.settings = settings
        self.vendors = settings.vendors
        self.timeout = settings.notifier.slack.retry.timeout.total_seconds()

    async def send(self, out: Outgoing) -> Outcome:
        message = payloads.slack_message(
            incident_id=out.incident_id,
            snapshot=out.snapshot,
            headline=out.headline,
            console_url=self.settings.console_url,
        )
        if self.settings.slack_mode() == "bot":
            return await self._post_message(out, message)
        return await self._webhook(message)

    async def _webhook(self, message: dict[str, Any]) -> Outcome:
        assert self.vendors.slack_webhook_url is not None
        url = self.vendors.slack_webhook_url.get_secret_value()
        # the webhook URL is a secret: the span gets its host only
        response = await self._call(
            "POST", url, "webhook", span_url=tracing.redacted(url), json=message
        )
        if isinstance(response, Outcome):
            return response
        return classify(response, target="webhook")

    async def _call(
        self, verb: str, url: str, target: str, *, span_url: str | None = None, **kw: Any
    ) -> httpx.Response | Outcome:
        """One traced request; a transport error comes back as its Outcome."""
        with tracing.client_span("slack", verb, span_url or url) as span:
            try:
                response = await self.client.request(verb, url, timeout=self.timeout, **kw)
            except httpx.HTTPError as exc:
                tracing.set_status(span, None, type(exc).__name__)
                return transport_error(exc, target)
            tracing.set_status(span, response.status_code)
        return response

    def channel(self, team: str) -> str:
        return self.settings.notifier.slack.channels.get(team) or str(self.vendors.slack_channel)

    async def _post_message(self, out: Outgoing, message: dict[str, Any]) -> Outcome:
        assert self.vendors.slack_bot_token is not None
        channel = self.channel(out.team)
        thread = out.thread_ts if out.transition != "trigger" else None
        body = {"channel": channel, **message, "metadata": metadata(out)}
        if thread:
            body["thread_ts"] = thread  # later updates go under the first message
        headers = {"Authorization": f"Bearer {self.vendors.slack_bot_token.get_secret_value()}"}
        if out.uncertain_since is not None:
            found = await self._posted_before(out, channel, thread, headers)
            if found is not None:
                return found
        url = self.vendors.slack_api_url.rstrip("/") + "/chat.postMessage"
        response = await self._call("POST", url, channel, json=body, headers=headers)
        if isinstance(response, Outcome):
            return response
        if response.status_code != 200:
            return classify(response, target=channel)
        return _api_result(response, channel)

    async def _posted_before(
        self, out: Outgoing, channel: str, thread: str | None, headers: dict[str, str]
    ) -> Outcome | None:
        """The message an earlier attempt of `out` posted (ok, its ts), None when there is
        none, or a retryable failure when Slack could not be read."""
        assert out.uncertain_since is not None
        method = "conversations.replies" if thread else "conversations.history"
        url = self.vendors.slack_api_url.rstrip("/") + "/" + method
        params = {
            "channel": channel,
            "oldest": f"{(out.uncertain_since - LOOKBACK).timestamp():.6f}",
            "include_all_metadata": "true",
            "limit": str(PAGE),
        }
        if thread:
            params["ts"] = thread
        for _ in range(MAX_PAGES):
            response = await self._call("GET", url, channel, params=params, headers=headers)
            if isinstance(response, Outcome):
                return response
            if response.status_code != 200:
                return _lookup_failed(classify(response, target=channel))
            result = _api_result(response, channel)
            if not result.ok:
                return _lookup_failed(result)
            doc = response.json()
            for m in doc.get("messages") or []:
                if _key_of(m) == out.idempotency_key:
                    ts = str(m.get("ts") or "")
                    return Outcome(
                        True,
                        200,
                        "ok (found, posted by an earlier attempt)",
                        ref=ts,
                        target=channel,
                    )
            cursor = (doc.get("response_metadata") or {}).get("next_cursor")
            if not doc.get("has_more") or not cursor:
                return None
            params["cursor"] = str(cursor)
        return Outcome(
            False, 200, f"{method}: too many pages to read back", retryable=True, target=channel
        )


def metadata(out: Outgoing) -> dict[str, Any]:
    """Slack message metadata naming the delivery, so a resend can find its message."""
    return {
        "event_type": METADATA_EVENT,
        "event_payload": {"idempotency_key": out.idempotency_key, "incident_id": out.incident_id},
    }


def _key_of(message: Any) -> str | None:
    meta = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return None
    payload = meta.get("event_payload")
    key = payload.get("idempotency_key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None


def _lookup_failed(result: Outcome) -> Outcome:
    # never a final failure: the message may be in Slack, so the row stays uncertain
    return Outcome(
        False,
        result.status_code,
        f"read back before resend: {result.detail}"[:2000],
        retryable=True,
        retry_after_s=result.retry_after_s,
        target=result.target,
    )


def _api_result(response: httpx.Response, channel: str) -> Outcome:
    """The Web API answers 200 with `ok: false` and an error code on most failures."""
    try:
        doc = response.json()
    except ValueError:
        return Outcome(False, 200, response.text[:2000], retryable=True, target=channel)
    if doc.get("ok"):
        return Outcome(True, 200, "ok", ref=str(doc.get("ts") or ""), target=channel)
    error = str(doc.get("error", "unknown_error"))
    return Outcome(
        False,
        200,
        error,
        retryable=error in ("ratelimited", "internal_error"),
        retry_after_s=retry_after(response),
        target=channel,
    )
