"""Slack: an incoming webhook, or a bot token with chat.postMessage threading updates."""

from __future__ import annotations

from typing import Any

import httpx
from interventions_platform import tracing

from .. import payloads
from ..settings import Settings
from . import Outcome, Outgoing, classify, retry_after, transport_error


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
        with tracing.client_span("slack", "POST", tracing.redacted(url)) as span:
            try:
                response = await self.client.post(url, json=message, timeout=self.timeout)
            except httpx.HTTPError as exc:
                tracing.set_status(span, None, type(exc).__name__)
                return transport_error(exc, "webhook")
            tracing.set_status(span, response.status_code)
        return classify(response, target="webhook")

    def channel(self, team: str) -> str:
        return self.settings.notifier.slack.channels.get(team) or str(self.vendors.slack_channel)

    async def _post_message(self, out: Outgoing, message: dict[str, Any]) -> Outcome:
        assert self.vendors.slack_bot_token is not None
        channel = self.channel(out.team)
        body = {"channel": channel, **message}
        if out.thread_ts and out.transition != "trigger":
            body["thread_ts"] = out.thread_ts  # later updates go under the first message
        headers = {"Authorization": f"Bearer {self.vendors.slack_bot_token.get_secret_value()}"}
        url = self.vendors.slack_api_url.rstrip("/") + "/chat.postMessage"
        with tracing.client_span("slack", "POST", url) as span:
            try:
                response = await self.client.post(
                    url, json=body, headers=headers, timeout=self.timeout
                )
            except httpx.HTTPError as exc:
                tracing.set_status(span, None, type(exc).__name__)
                return transport_error(exc, channel)
            tracing.set_status(span, response.status_code)
        if response.status_code != 200:
            return classify(response, target=channel)
        return _api_result(response, channel)


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
