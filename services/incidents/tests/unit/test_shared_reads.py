"""Identical reads asked for together share one run, and no answer is older than its request."""

from __future__ import annotations

import asyncio

import pytest
from incidents.shared_reads import SharedReads


class Source:
    """A value that moves on; each run reads it after `gate` opens and counts itself."""

    def __init__(self) -> None:
        self.value = 0
        self.runs = 0
        self.gate = asyncio.Event()

    async def read(self) -> int:
        self.runs += 1
        seen = self.value
        await self.gate.wait()
        return seen


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reads_arriving_while_a_twin_runs_share_the_next_run_never_the_running_one() -> None:
    shared: SharedReads[int] = SharedReads()
    src = Source()
    first = asyncio.create_task(shared.read("page", src.read))
    await settle()
    src.value = 1  # committed while the first run is under way, before the others arrive
    later = [asyncio.create_task(shared.read("page", src.read)) for _ in range(5)]
    await settle()
    assert src.runs == 1  # the later ones wait: the running read may not see value 1
    src.gate.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 5
    assert src.runs == 2
    assert not shared._waiting and not shared._running


async def test_a_lone_read_runs_at_once_and_each_later_one_runs_again() -> None:
    shared: SharedReads[int] = SharedReads()
    src = Source()
    src.gate.set()
    for value in range(3):
        src.value = value
        assert await shared.read("page", src.read) == value
    assert src.runs == 3


async def test_different_reads_do_not_share_or_wait_for_each_other() -> None:
    shared: SharedReads[int] = SharedReads()
    src = Source()
    a = asyncio.create_task(shared.read(("page", 1), src.read))
    b = asyncio.create_task(shared.read(("page", 2), src.read))
    await settle()
    assert src.runs == 2  # both under way together
    src.gate.set()
    assert await asyncio.gather(a, b) == [0, 0]


async def test_a_failure_reaches_every_read_that_shared_it_and_the_next_read_runs_afresh() -> None:
    shared: SharedReads[int] = SharedReads()
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("database went away")
        return calls

    results = await asyncio.gather(
        *(shared.read("page", flaky) for _ in range(4)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await shared.read("page", flaky) == 2


async def test_a_read_whose_caller_goes_away_still_answers_the_others() -> None:
    shared: SharedReads[int] = SharedReads()
    src = Source()
    leaving = asyncio.create_task(shared.read("page", src.read))
    staying = asyncio.create_task(shared.read("page", src.read))
    await settle()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    src.gate.set()
    assert await staying == 0
    assert src.runs == 1
