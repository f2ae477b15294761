"""Composition root: settings, runtime, intake, tracker and sync worker, FastAPI app."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from interventions_eventstore import Outbox
from interventions_platform.http import create_app
from interventions_platform.runtime import Runtime

from . import api, consumers, settings
from .adapters.factory import build_tracker
from .perform import Performer
from .service import Intake
from .store import MIGRATIONS, SyncStore
from .worker import SyncWorker

log = logging.getLogger("issue_sync")
SERVICE = "issue-sync"


class SyncHook:
    """Lifespan hook: builds the tracker and runs the worker once the runtime is up."""

    def __init__(self, runtime: Runtime, cfg: settings.IssueSyncSettings, store: SyncStore):
        self.runtime = runtime
        self.cfg = cfg
        self.store = store
        self.worker: SyncWorker | None = None

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def start(self) -> None:
        if self.cfg.provider is None:
            log.warning(
                "issue sync disabled: no interventions.issue_provider.provider "
                "configured (github, gitlab or jira)"
            )
            return
        tracker = build_tracker(
            self.cfg.provider, timeout=self.cfg.sync.request_timeout.total_seconds()
        )
        performer = Performer(tracker, self.store, Outbox(self.runtime.schema), self.runtime.pub)
        self.worker = SyncWorker(self.runtime.db, self.store, tracker, performer, self.cfg.sync)
        self.runtime.spawn(self.worker.run(), "issue-sync-worker")
        log.info(
            "issue sync to %s enabled for %s",
            tracker.provider,
            ", ".join(sorted(self.cfg.severities)),
        )

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.tracker.aclose()


def build_app() -> FastAPI:
    runtime = Runtime(SERVICE, migrations=MIGRATIONS)
    cfg = settings.load(runtime.raw_config)
    store = SyncStore(runtime.schema)
    hook = SyncHook(runtime, cfg, store)
    if cfg.provider is not None:
        intake = Intake(lambda: runtime.db, runtime.schema, runtime.prefix, cfg, hook.wake)
        consumers.register(runtime, intake, cfg.sync.subscriber_overrides())
    app = create_app(
        SERVICE,
        lifespan=runtime.lifespan(hook),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
    app.state.sync_store = store
    app.include_router(api.router)
    return app
