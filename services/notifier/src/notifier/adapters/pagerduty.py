"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident."""

from __future__ import annotations

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
        _, _, level = out.sink.partition(":")
        if level:
            return self.settings.escalation.routing_key_for(out.team, level)
        team_keys = self.settings.notifier.pagerduty.routing_keys
        return team_keys.get(out.team) or self.settings.vendors.pagerduty_routing_key

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
        target = payloads.dedup_key(out.incident_id)
        with tracing.client_span("pagerduty", "POST", self.url) as span:
            try:
                response = await self.client.post(self.url, json=body, timeout=self.timeout)
            except httpx.HTTPError as exc:
                tracing.set_status(span, None, type(exc).__name__)
                return transport_error(exc, target)
            tracing.set_status(span, response.status_code)
        return classify(response, target=target)
