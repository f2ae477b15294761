"""After a backlog (batches of at least `full` records) a consumer collects its garbage once,
when no full batch has come for a while; never during it, never for a light load."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
from interventions_platform.memory import Backlog

MAX_BATCH = 4000


def backlog() -> Backlog:
    return Backlog(lambda _coro, _name: None, full=MAX_BATCH // 2, quiet_s=0.05)


def test_light_load_never_collects(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[Any] = []
    monkeypatch.setattr(gc, "collect", lambda *a: runs.append(a) or 0)
    b = backlog()
    for size in (1, 50, MAX_BATCH // 2 - 1):
        b.after(size)
    time.sleep(0.06)
    assert not b.collect_if_drained()
    assert runs == []


def test_collects_once_after_the_backlog_has_drained(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[Any] = []
    monkeypatch.setattr(gc, "collect", lambda *a: runs.append(a) or 0)
    b = backlog()
    b.after(MAX_BATCH)
    b.after(MAX_BATCH // 2)
    assert not b.collect_if_drained()  # a full batch just came: the backlog may go on
    b.after(10)  # small batches do not hold it off
    time.sleep(0.06)
    assert b.collect_if_drained()
    assert not b.collect_if_drained()  # once
    assert len(runs) == 1
    b.after(MAX_BATCH)  # the next backlog
    time.sleep(0.06)
    assert b.collect_if_drained()
    assert len(runs) == 2


def test_the_collection_frees_reference_cycles() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    def nodes() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is Node)

    gc.disable()
    try:
        for _ in range(1000):
            Node()
        assert nodes() == 1000
        b = backlog()
        b.after(MAX_BATCH)
        time.sleep(0.06)
        assert b.collect_if_drained()
        assert nodes() == 0
    finally:
        gc.enable()
