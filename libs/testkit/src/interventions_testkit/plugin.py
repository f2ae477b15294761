"""pytest plugin: real broker and PostgreSQL, a fresh database and topic prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from . import infra


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker for the whole session."""
    bootstrap, stop = infra.start_broker()
    try:
        yield bootstrap
    finally:
        stop()


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    dsn, stop = infra.start_postgres()
    try:
        yield dsn
    finally:
        stop()


@pytest.fixture
async def database_url(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards."""
    dsn = await infra.create_database(pg_admin_dsn)
    try:
        yield dsn
    finally:
        await infra.drop_database(pg_admin_dsn, dsn)


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix of one's own, so tests never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}."
