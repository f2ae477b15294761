"""Built-in actions against their real targets: the Elasticsearch stand-in over HTTP, the dbt
CLI against PostgreSQL. Dry-runs only read; executions send exactly the documented calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from interventions_testkit.standins.elasticsearch import ElasticsearchStandIn
from playbooks.errors import ActionError
from playbooks.registry import ActionContext, IncidentView, discover
from playbooks.settings import PlaybooksSettings
from playbooks.targets import Targets, build_targets

from ..conftest import DBT_SCHEMA, make_dbt_project

REGISTRY = discover()
INCIDENT = IncidentView(
    id=7,
    key="BUDGET_knowledge.update_latency_p95",
    kind="budget",
    severity="sev2",
    status="open",
    playbooks=("clear_cache",),
    details={"agent": "knowledge.update"},
)


def context(targets: Targets) -> ActionContext:
    return ActionContext(
        incident=INCIDENT, actor="responder@example.com", execution_id="x", targets=targets
    )


def es_targets(es: ElasticsearchStandIn) -> Targets:
    return build_targets(PlaybooksSettings.model_validate({"elasticsearch": {"url": es.url}}), "t.")


async def run(name: str, params: dict[str, Any], targets: Targets, *, dry: bool) -> Any:
    action = REGISTRY.get(name)
    assert action is not None
    parsed = action.parse(params)
    if dry:
        return await action.dry_run(parsed, context(targets))
    return await action.execute(parsed, context(targets))


async def test_clear_cache_sends_exactly_the_documented_request(es: ElasticsearchStandIn) -> None:
    out = await run("clear_cache", {"index_name": "emails"}, es_targets(es), dry=False)
    assert [(r.method, r.path, r.query) for r in es.requests] == [
        ("POST", "/emails/_cache/clear", {"query": "true", "request": "true"})
    ]
    assert out.output["shards"]["failed"] == 0
    assert es.indices["emails"].query_cache_bytes == 0
    assert es.indices["emails"].fielddata_bytes > 0  # only the chosen caches


async def test_refresh_synonyms_sends_exactly_the_documented_request(
    es: ElasticsearchStandIn,
) -> None:
    out = await run("refresh_synonyms", {"index_name": "knowledge"}, es_targets(es), dry=False)
    assert [(r.method, r.path, r.query) for r in es.requests] == [
        ("POST", "/knowledge/_reload_search_analyzers", {})
    ]
    assert out.output["reload_details"][0]["index"] == "knowledge"


async def test_search_dry_runs_only_read(es: ElasticsearchStandIn) -> None:
    targets = es_targets(es)
    cleared = await run(
        "clear_cache", {"index_name": "emails", "cache_types": ["query"]}, targets, dry=True
    )
    synonyms = await run(
        "refresh_synonyms", {"index_name": "knowledge", "reindex": True}, targets, dry=True
    )
    assert es.requests and es.methods() == {"GET"}
    assert cleared.ok and "4096 bytes" in cleared.changes[0]
    assert synonyms.ok and "hour" in synonyms.estimated_duration
    assert es.indices["emails"].query_cache_bytes == 4096


async def test_an_elasticsearch_error_becomes_an_action_error_naming_the_call(
    es: ElasticsearchStandIn,
) -> None:
    with pytest.raises(ActionError, match="POST /missing/_cache/clear answered 404: no such index"):
        await run("clear_cache", {"index_name": "missing"}, es_targets(es), dry=False)


def dbt_targets(tmp_path: Path, database_url: str, **dbt: Any) -> Targets:
    project, profiles = make_dbt_project(tmp_path, database_url)
    cfg = {"dbt": {"project_dir": str(project), "profiles_dir": str(profiles), **dbt}}
    return build_targets(PlaybooksSettings.model_validate(cfg), "t.")


async def tables(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            DBT_SCHEMA,
        )
    finally:
        await conn.close()
    return [r["table_name"] for r in rows]


async def test_rerun_dbt_builds_the_models_tables(tmp_path: Path, database_url: str) -> None:
    targets = dbt_targets(tmp_path, database_url)
    out = await run(
        "rerun_dbt", {"models": ["triage_results"], "upstream": True}, targets, dry=False
    )
    assert out.output["returncode"] == 0 and "PASS=2" in out.output["output"]
    assert await tables(database_url) == ["inbox_emails", "triage_results"]


async def test_a_dbt_dry_run_matching_no_model_fails_and_builds_nothing(
    tmp_path: Path, database_url: str
) -> None:
    targets = dbt_targets(tmp_path, database_url)
    none = await run("rerun_dbt", {"models": ["no_such_model"]}, targets, dry=True)
    assert not none.ok and none.changes == ["No dbt model matches no_such_model"]
    assert await tables(database_url) == []


async def test_a_dbt_run_past_its_timeout_is_killed(tmp_path: Path, database_url: str) -> None:
    targets = dbt_targets(tmp_path, database_url, timeout="50ms")
    with pytest.raises(ActionError, match=r"timed out after 0\.05s"):
        await run("rerun_dbt", {"models": ["inbox_emails"]}, targets, dry=False)
