"""clear_cache and refresh_synonyms: the Elasticsearch/OpenSearch REST API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain import human_duration, money
from ..errors import ActionError
from ..registry import AbstractAction, ActionContext, DryRun, Outcome, register_action

# Elasticsearch index naming rules: lowercase, no path separators or wildcards
IndexName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,254}$")]
CacheType = Literal["query", "request", "fielddata"]
STATS_KEY = {"query": "query_cache", "request": "request_cache", "fielddata": "fielddata"}
FilterName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]


def _default_caches() -> list[CacheType]:
    return ["query", "request"]


class ClearCacheParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index_name: IndexName | None = None
    cache_types: list[CacheType] = Field(default_factory=_default_caches, min_length=1)


class RefreshSynonymsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index_name: IndexName
    synonym_filter: FilterName | None = None
    reindex: bool = False


def _allowed(index: str | None, ctx: ActionContext) -> list[str]:
    allowed = ctx.targets.search.cfg.indices
    if allowed and index not in allowed:
        return [f"index {index or '(all)'} is not in playbooks.elasticsearch.indices {allowed}"]
    return []


def _bytes(stats: dict[str, Any], kind: str) -> int:
    return int(stats.get(kind, {}).get("memory_size_in_bytes", 0))


@register_action
class ClearCache(AbstractAction[ClearCacheParams]):
    name = "clear_cache"
    params_model = ClearCacheParams
    description = "Clear Elasticsearch query/request (or fielddata) caches of an index"

    def validate(self, params: ClearCacheParams, ctx: ActionContext) -> list[str]:
        return _allowed(params.index_name, ctx)

    async def dry_run(self, params: ClearCacheParams, ctx: ActionContext) -> DryRun:
        stats = await ctx.targets.search.cache_stats(params.index_name)
        target = params.index_name or "all indices"
        changes = [
            f"Will clear the {t} cache of {target} ({_bytes(stats, STATS_KEY[t])} bytes now)"
            for t in params.cache_types
        ]
        changes.append("Queries will be slower until the caches warm up again")
        return DryRun(True, human_duration(5), money(0), changes)

    async def execute(self, params: ClearCacheParams, ctx: ActionContext) -> Outcome:
        body = await ctx.targets.search.clear_cache(params.index_name, list(params.cache_types))
        return Outcome(
            {
                "index": params.index_name,
                "cache_types": params.cache_types,
                "shards": body.get("_shards") if isinstance(body, dict) else None,
            }
        )


@register_action
class RefreshSynonyms(AbstractAction[RefreshSynonymsParams]):
    name = "refresh_synonyms"
    params_model = RefreshSynonymsParams
    description = "Reload an index's search analyzers (synonyms); optionally re-index in place"
    approval_rule = "required when reindex is true"

    def requires_approval(self, params: RefreshSynonymsParams) -> str | None:
        return "reindex rewrites every document of the index (hours)" if params.reindex else None

    def validate(self, params: RefreshSynonymsParams, ctx: ActionContext) -> list[str]:
        return _allowed(params.index_name, ctx)

    async def dry_run(self, params: RefreshSynonymsParams, ctx: ActionContext) -> DryRun:
        found = await ctx.targets.search.indices(params.index_name)
        if not found:
            return DryRun(
                False, human_duration(0), money(0), [f"Index {params.index_name} was not found"]
            )
        docs = sum(int(i.get("docs.count") or 0) for i in found)
        changes = [
            f"Will reload the search analyzers of {params.index_name}"
            + (f" (filter {params.synonym_filter})" if params.synonym_filter else "")
        ]
        seconds = 10.0
        if params.reindex:
            changes.append(f"Will re-index {docs} documents in place (_update_by_query)")
            seconds = max(3600.0, docs / 1000)
        return DryRun(True, human_duration(seconds), money(0.5 if params.reindex else 0), changes)

    async def execute(self, params: RefreshSynonymsParams, ctx: ActionContext) -> Outcome:
        search = ctx.targets.search
        body = await search.reload_search_analyzers(params.index_name)
        if not isinstance(body, dict):
            raise ActionError("Elasticsearch answered _reload_search_analyzers with no JSON object")
        out: dict[str, Any] = {
            "index": params.index_name,
            "reload_details": body.get("reload_details", []),
        }
        if params.reindex:
            task = await search.update_by_query(params.index_name)
            out["reindex_task"] = task.get("task") if isinstance(task, dict) else None
        return Outcome(out)
