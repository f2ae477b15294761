"""Composition root: settings, runtime, the signal handler and the sweep, the HTTP app."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from interventions_platform.config import load_core
from interventions_platform.http import create_app
from interventions_platform.memory import Backlog
from interventions_platform.runtime import Runtime

from . import consumers, settings
from .handler import SignalHandler
from .migrations import MIGRATIONS
from .sweep import Sweeper

log = logging.getLogger(__name__)


def build_app() -> FastAPI:
    """Build the watcher process; a bad settings.yaml raises ConfigError naming the key."""
    runtime = Runtime("watcher", migrations=MIGRATIONS, relay=False)
    handler = SignalHandler(runtime, settings.load(runtime.raw_config))
    hooks: list[Sweeper | Backlog] = []
    if load_core(runtime.raw_config).enabled:
        hooks.append(consumers.register(runtime, handler))
        hooks.append(Sweeper(runtime, handler))
    else:  # the guide's master switch: no detections, no sweep, no heartbeat
        log.warning("interventions.enabled is false: the watcher consumes nothing")
    return create_app(
        "watcher",
        lifespan=runtime.lifespan(*hooks),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
