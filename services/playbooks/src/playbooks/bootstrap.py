"""Composition root: settings, registry, targets, service, consumers and the FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from interventions_platform import http
from interventions_platform.runtime import Runtime

from . import api, consumers
from .registry import Registry, discover
from .service import PlaybookService
from .settings import load
from .tables import MIGRATIONS
from .targets import build_targets

SERVICE = "playbooks"


class _ExpiryLoop:
    """Lifespan hook: runs the approval-expiry sweep for the life of the process."""

    def __init__(self, runtime: Runtime, service: PlaybookService):
        self.runtime = runtime
        self.service = service

    async def start(self) -> None:
        self.runtime.spawn(self.service.expiry_loop(), "approval-expiry")

    async def stop(self) -> None:
        return None


def build_app(
    *, runtime: Runtime | None = None, registry: Registry | None = None, **overrides: Any
) -> FastAPI:
    """The playbooks service app (nothing connects until the lifespan starts)."""
    runtime = runtime or Runtime(SERVICE, migrations=MIGRATIONS)
    settings = load(runtime.raw_config)
    service = PlaybookService(
        db=lambda: runtime.db,
        pub=lambda: runtime.pub,
        schema=runtime.schema,
        registry=registry or discover(),
        settings=settings,
        targets=build_targets(settings.playbooks, runtime.prefix),
        **overrides,
    )
    consumers.register(runtime, service.repo)
    app = http.create_app(
        SERVICE,
        lifespan=runtime.lifespan(_ExpiryLoop(runtime, service)),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
    api.mount(app, service)
    return app
