"""Shared fixtures: the tiny dbt project (copied per use) with a profile aimed at a test
database, and an Elasticsearch stand-in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from interventions_testkit.standins.elasticsearch import ElasticsearchStandIn, IndexState

FIXTURES = Path(__file__).parent / "fixtures"
DBT_SCHEMA = "analytics"


def make_dbt_project(root: Path, database_url: str) -> tuple[Path, Path]:
    """Copy the fixture project under `root` and write a profiles.yml for `database_url`."""
    project = root / "dbt_project"
    shutil.copytree(FIXTURES / "dbt_project", project)
    url = urlsplit(database_url)
    profiles = root / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "playbooks_fixture:\n  target: test\n  outputs:\n    test:\n      type: postgres\n"
        f"      host: {url.hostname}\n      port: {url.port or 5432}\n"
        f'      user: {url.username or "postgres"}\n      password: "{url.password or ""}"\n'
        f"      dbname: {url.path.lstrip('/')}\n      schema: {DBT_SCHEMA}\n      threads: 2\n"
    )
    return project, profiles


@pytest.fixture
def es() -> Iterator[ElasticsearchStandIn]:
    standin = ElasticsearchStandIn(indices={n: IndexState() for n in ("emails", "knowledge")})
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
