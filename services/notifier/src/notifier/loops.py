"""Background loops: the timer loop (escalation and SLA) and the sender workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from .sender import Sender
from .service import NotifierService
from .storms import StormSender

log = logging.getLogger(__name__)
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)


class Loops:
    """Started after the runtime (a FastAPI lifespan hook); timers live in the database, so a
    restart rebuilds nothing: the next poll finds whatever is due."""

    def __init__(
        self,
        service: NotifierService,
        sender: Sender,
        *,
        timer_poll_s: float,
        sender_poll_s: float,
        workers: int,
        storms: StormSender | None = None,
    ):
        self.service = service
        self.sender = sender
        self.storms = storms
        self.timer_poll_s = timer_poll_s
        self.sender_poll_s = sender_poll_s
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(
            asyncio.create_task(
                self._forever(self.service.fire_due_timers, self.timer_poll_s), name="timers"
            )
        )
        for n in range(self.workers):
            self._tasks.append(
                asyncio.create_task(
                    self._forever(self._drain, self.sender_poll_s), name=f"sender-{n}"
                )
            )
        log.info("notifier loops started: %d sender workers", self.workers)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> int:
        sent = 0
        while not self._stopping.is_set():
            progressed = await self.sender.send_one()
            if self.storms is not None:
                progressed = await self.storms.send_one() or progressed
            if not progressed:
                break
            sent += 1
        return sent

    async def _forever(self, step: Callable[[], Awaitable[int]], poll_s: float) -> None:
        while not self._stopping.is_set():
            try:
                await step()
            except _DB_ERRORS as exc:
                log.warning("notifier loop: database unavailable, retrying: %s", exc)
            except Exception:  # a bug in one round must not stop paging forever
                log.exception("notifier loop round failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), poll_s)
