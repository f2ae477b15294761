"""Composition root: Runtime + service + consumers + API. No I/O at import time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from interventions_platform import http
from interventions_platform.runtime import Runtime

from . import consumers, outcomes, sentinel
from .api import build_router, install_error_handlers, install_fast_list
from .migrations import MIGRATIONS
from .queries import Queries
from .service import IncidentService
from .settings import IncidentsSettings, load_settings

SERVICE = "incidents"
log = logging.getLogger(__name__)


class Components:
    """Built once the runtime has its pool and producer (a lifespan hook)."""

    def __init__(self, runtime: Runtime, settings: IncidentsSettings):
        self.runtime, self.settings = runtime, settings
        self._service: IncidentService | None = None
        self._queries: Queries | None = None

    def service(self) -> IncidentService:
        assert self._service is not None, "incidents service not started"
        return self._service

    def queries(self) -> Queries:
        assert self._queries is not None, "incidents service not started"
        return self._queries

    async def start(self) -> None:
        rt = self.runtime
        self._service = IncidentService(rt.db, rt.pub, self.settings, schema=rt.schema)
        self._queries = Queries(rt.db, rt.schema)
        rt.spawn(self._verification_loop(), "verification-period")

    async def stop(self) -> None:
        """Background loops are cancelled by Runtime.stop."""

    async def _verification_loop(self) -> None:
        """Close resolved incidents after the verification period. Durable because it is
        derived from resolved_at in the read model, so a restart loses nothing."""
        interval = self.settings.verification_check_interval.total_seconds()
        while True:
            try:
                closed = await self.service().close_verified()
                if closed:
                    log.info("closed %d incident(s) after the verification period", closed)
            except Exception:  # a database hiccup must not end the loop; retried next tick
                log.exception("verification-period check failed")
            await asyncio.sleep(interval)


def build_app(**runtime_kw: Any) -> FastAPI:
    runtime = Runtime(SERVICE, migrations=MIGRATIONS, **runtime_kw)
    parts = Components(runtime, load_settings(runtime.raw_config))
    backlog = consumers.register(runtime, parts.service)
    # outcome metrics and self-alerts (docs/OUTCOMES.md)
    watch = sentinel.Sentinel(runtime, sentinel.load(runtime.raw_config))
    metrics = outcomes.OutcomeMetrics(lambda: runtime.db, runtime.schema, runtime.spawn)
    app = http.create_app(
        SERVICE,
        lifespan=runtime.lifespan(parts, watch, metrics, backlog),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
    install_error_handlers(app)
    router = build_router(parts.service, parts.queries)
    app.include_router(router)
    install_fast_list(app, router, parts.queries)
    app.include_router(outcomes.router(lambda: runtime.db, runtime.schema))
    return app
