"""Chaos suite: one stack of real service processes per module, faults under load, oracles
after every scenario, and the `make chaos` table at the end of the run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from interventions_testkit.chaos import Stack
from interventions_testkit.chaos_runner import ROWS, table

FULL = os.environ.get("INTERVENTIONS_CHAOS_FULL") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chaos_full: full chaos scenarios (run by `make chaos`, INTERVENTIONS_CHAOS_FULL=1)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(
        reason="full chaos scenario: set INTERVENTIONS_CHAOS_FULL=1 (make chaos)"
    )
    for item in items:
        if "chaos_full" in item.keywords and not FULL:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.write_sep("=", "chaos scenarios")
        terminalreporter.write_line(table(ROWS))


@pytest.fixture(scope="module")
async def stack(
    pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Every service as a process on a broker of its own (so it can be stopped)."""
    s = Stack(tmp_path_factory.mktemp("chaos"), pg_admin_dsn)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def durable_stack(
    pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A stack of its own whose broker keeps its log across a restart (S3 stand-in storage),
    for the broker outage: a Kafka broker that is stopped keeps what it acknowledged."""
    s = Stack(tmp_path_factory.mktemp("chaos-durable"), pg_admin_dsn, durable=True)
    try:
        await s.start()
        yield s
    finally:
        await s.stop()
