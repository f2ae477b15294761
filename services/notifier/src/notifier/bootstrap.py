"""Composition root: builds the runtime, sinks, loops, SSE hub and app. No I/O at import."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import FastAPI
from interventions_platform.http import create_app
from interventions_platform.runtime import Runtime

from . import api, consumers
from .adapters import Sink
from .adapters.pagerduty import PagerDuty
from .adapters.slack import Slack
from .limits import Limits
from .loops import Loops
from .migrations import MIGRATIONS
from .sender import Sender
from .service import NotifierService
from .settings import Settings
from .sse import Hub
from .storms import StormSender

log = logging.getLogger(__name__)


class _Vendors:
    """Owns the HTTP client; says once at start-up which sinks are off and why."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = httpx.AsyncClient(headers={"User-Agent": "interventions-notifier"})

    async def start(self) -> None:
        # httpx logs every request URL at INFO, and a Slack webhook URL is a secret
        logging.getLogger("httpx").setLevel(logging.WARNING)
        s = self.settings
        if not s.pagerduty_enabled():
            log.warning(
                "PagerDuty disabled: set PAGERDUTY_ROUTING_KEY (or per-team keys in "
                "interventions.notifier.pagerduty.routing_keys) to page"
            )
        if s.slack_mode() is None:
            log.warning(
                "Slack disabled: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and "
                "SLACK_CHANNEL, to post"
            )
        log.info(
            "notifier sinks enabled: %s (slack mode %s)",
            sorted(s.enabled_sinks()) or "none",
            s.slack_mode(),
        )

    async def stop(self) -> None:
        await self.client.aclose()


def build_app(raw_config: dict[str, Any] | None = None) -> FastAPI:
    runtime = Runtime("notifier", migrations=MIGRATIONS, raw_config=raw_config)
    settings = Settings.load(runtime.raw_config, runtime.env.interventions_console_url)
    service = NotifierService(runtime, settings)
    consumers.register(runtime, service)
    vendors = _Vendors(settings)
    pagerduty = PagerDuty(vendors.client, settings)
    sinks: dict[str, Sink] = {"pagerduty": pagerduty, "slack": Slack(vendors.client, settings)}
    limits = Limits(service.store.s, settings, pagerduty)
    cfg = settings.notifier
    loops = Loops(
        service,
        Sender(service, sinks, limits),
        timer_poll_s=cfg.timers.poll_interval.total_seconds(),
        sender_poll_s=cfg.sender.poll_interval.total_seconds(),
        workers=cfg.sender.workers,
        storms=StormSender(service, limits),
    )
    hub = Hub(runtime, cfg.sse)
    app = create_app(
        "notifier",
        lifespan=runtime.lifespan(vendors, hub, loops),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
    app.state.hub = hub
    app.include_router(api.router)
    return app
