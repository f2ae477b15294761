"""Identical reads that arrive together share one: a wallboard of many on-call engineers, or
a console open in many tabs, asks for the same incident page over and over.

A read joins only a run that has not started yet, so an answer is never older than the
request it answers: whatever was committed before a request arrived is in its answer, as if
it had run alone. A read that finds its twin running waits for it to end and then runs,
with every identical read that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    """At most one run per key at a time, and one waiting to start that all new arrivals join."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Future[T]] = {}
        self._running: dict[Hashable, asyncio.Future[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, key: Hashable, run: Callable[[], Awaitable[T]]) -> T:
        """`run()`'s answer, from a run that starts after this call (shared with its twins)."""
        answer = self._waiting.get(key)
        if answer is None:
            answer = self._waiting[key] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._run(key, answer, run), name="shared-read")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # a caller that goes away (a client hung up) leaves the run to the others
        return await asyncio.shield(answer)

    async def _run(
        self, key: Hashable, answer: asyncio.Future[T], run: Callable[[], Awaitable[T]]
    ) -> None:
        try:
            ahead = self._running.get(key)
            if ahead is not None:
                await asyncio.wait([ahead])  # its answer is older than some of ours
            del self._waiting[key]  # from here on, arrivals wait for the next run
            self._running[key] = answer
            answer.set_result(await run())
        except Exception as exc:
            answer.set_exception(exc)
            answer.exception()  # retrieved: callers that all went away are not an error
        finally:
            answer.cancel()  # only if cancelled itself (the service stopping): no-op when done
            if self._waiting.get(key) is answer:
                del self._waiting[key]
            if self._running.get(key) is answer:
                del self._running[key]
