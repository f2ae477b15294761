"""Composition root: settings, runtime, the signal handler and the sweep, the HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from interventions_platform.http import create_app
from interventions_platform.runtime import Runtime

from . import consumers, settings
from .handler import SignalHandler
from .migrations import MIGRATIONS
from .sweep import Sweeper


def build_app() -> FastAPI:
    """Build the watcher process; a bad settings.yaml raises ConfigError naming the key."""
    runtime = Runtime("watcher", migrations=MIGRATIONS, relay=False)
    handler = SignalHandler(runtime, settings.load(runtime.raw_config))
    consumers.register(runtime, handler)
    sweeper = Sweeper(runtime, handler)
    return create_app(
        "watcher",
        lifespan=runtime.lifespan(sweeper),
        ready_checks={"db": runtime.db_ready, "kafka": runtime.kafka_ready},
    )
