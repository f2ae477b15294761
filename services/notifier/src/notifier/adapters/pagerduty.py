"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident."""

from __future__ import annotations

from typing import Any

import httpx
from interventions_platform import tracing
from pydantic import SecretStr

from .. import payloads
from ..settings import Settings
from . import Outcome, Outgoing, classify, transport_error


class PagerDuty:
    """Sink `pagerduty` (the team's service) and `pagerduty:<level>` (an escalation level's)."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings):
        self.client = client
        self.settings = settings
        self.url = settings.vendors.pagerduty_events_url
        self.timeout = settings.notifier.pagerduty.retry.timeout.total_seconds()

    def routing_key(self, out: Outgoing) -> SecretStr | None:
        return routing_key(self.settings, out.sink, out.team)

    async def send(self, out: Outgoing) -> Outcome:
        key = self.routing_key(out)
        if key is None:
            return Outcome(False, None, f"no PagerDuty routing key for team {out.team!r}")
        body = payloads.pagerduty_event(
            routing_key=key.get_secret_value(),
            action=out.transition,
            incident_id=out.incident_id,
            snapshot=out.snapshot,
            headline=out.headline,
            console_url=self.settings.console_url,
        )
        return await self.post(body, payloads.dedup_key(out.incident_id))

    async def post(self, body: dict[str, Any], target: str) -> Outcome:
        """One Events API call; vendor and transport failures become an Outcome."""
        with tracing.client_span("pagerduty", "POST", self.url) as span:
            try:
                response = await self.client.post(self.url, json=body, timeout=self.timeout)
            except httpx.HTTPError as exc:
                tracing.set_status(span, None, type(exc).__name__)
                return transport_error(exc, target)
            tracing.set_status(span, response.status_code)
        return classify(response, target=target)


def routing_key(settings: Settings, sink: str, team: str) -> SecretStr | None:
    """The routing key a delivery to `sink` for `team` goes to (a level's own, or the team's)."""
    _, _, level = sink.partition(":")
    if level:
        return settings.escalation.routing_key_for(team, level)
    team_keys = settings.notifier.pagerduty.routing_keys
    return team_keys.get(team) or settings.vendors.pagerduty_routing_key
