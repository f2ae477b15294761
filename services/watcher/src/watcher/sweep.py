"""The periodic sweep: every `watcher.interval`, one replica claims the cycle, checks data
freshness per agent and publishes a heartbeat. A failing check never stops the others."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from interventions_events import Envelope, Event
from interventions_events.detections import WatcherHeartbeat
from interventions_platform.runtime import Runtime

from . import domain
from .handler import SignalHandler
from .metrics import SWEEP_CHECK_FAILURES, SWEEP_SECONDS

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "watcher"


class Sweeper:
    """Runs the sweep loop for the life of the process (a lifespan hook)."""

    def __init__(self, runtime: Runtime, handler: SignalHandler):
        self.runtime = runtime
        self.handler = handler
        self.settings = handler.settings
        self.replica = f"{socket.gethostname()}-{os.getpid()}"
        self.checks: dict[str, Callable[[int, datetime], Awaitable[Any]]] = {
            "freshness": self.check_freshness,
        }

    async def start(self) -> None:
        self.runtime.spawn(self.run(), "watcher-sweep")

    async def stop(self) -> None:
        """The runtime cancels the loop on shutdown."""

    async def run(self) -> None:
        interval = self.settings.interval_s
        while True:
            cycle = int(time.time() // interval)
            try:
                await self.sweep(cycle)
            except Exception:  # the loop must outlive any one cycle
                log.exception("sweep cycle %d failed", cycle)
            # wake at the next cycle boundary, so no cycle is skipped or run twice
            await asyncio.sleep(max((cycle + 1) * interval - time.time(), 0) + 0.001)

    async def sweep(self, cycle: int) -> dict[str, str] | None:
        """Run one cycle if this replica wins it; returns each check's result."""
        now = datetime.now(UTC)
        try:
            if not await self.handler.store.claim_cycle(cycle, self.replica):
                return None
        except Exception as exc:  # without the database we still say we are alive
            log.exception("cannot claim sweep cycle %d", cycle)
            results = {"claim": _error(exc)}
            await self.heartbeat(cycle, now, results)
            return results
        with SWEEP_SECONDS.time():
            results = await self._run_checks(cycle, now)
            await self.heartbeat(cycle, now, results)
        try:
            await self.handler.store.finish_cycle(cycle, results)
        except Exception:
            log.exception("cannot record sweep cycle %d", cycle)
        return results

    async def _run_checks(self, cycle: int, now: datetime) -> dict[str, str]:
        results: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                await check(cycle, now)
                results[name] = "ok"
            except Exception as exc:  # one failing check never stops the others
                log.exception("sweep check %s failed in cycle %d", name, cycle)
                SWEEP_CHECK_FAILURES.labels(name).inc()
                results[name] = _error(exc)
        return results

    async def check_freshness(self, cycle: int, now: datetime) -> None:
        """An invariant detection for every agent with no eval within its threshold."""
        fresh = self.settings.freshness
        clocks = await self.handler.store.agent_clocks(sorted(fresh.agents), now)
        findings = domain.check_freshness(clocks, fresh, now, sweep_id=f"sweep-{cycle}")
        if findings:
            detections = domain.emissions(findings, set())
            await self.runtime.pub.send_all(self.handler.messages(detections))
            await self.handler.store.record_failures(findings)

    async def heartbeat(self, cycle: int, now: datetime, results: dict[str, str]) -> None:
        pub = self.runtime.pub
        beat = WatcherHeartbeat(watcher_id=self.replica, cycle=cycle, at=now, checks=results)
        env: Envelope[Event] = Envelope(
            data=beat,
            source=pub.source,
            subject=HEARTBEAT_KEY,
            id=domain.detection_id(f"sweep-{cycle}", HEARTBEAT_KEY, beat.type_name),
        )
        try:
            await pub.send_all([pub.message(env, HEARTBEAT_KEY)])
        except Exception:
            log.exception("cannot publish heartbeat %d", cycle)


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {exc}"[:300]
