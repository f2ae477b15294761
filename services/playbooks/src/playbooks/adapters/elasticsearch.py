"""Elasticsearch/OpenSearch REST: cache stats and clearing, search-analyzer reloads."""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ActionError
from ..settings import ElasticsearchTarget

CACHE_TYPES = ("query", "request", "fielddata")


class ElasticsearchClient:
    """A small REST client; every failure becomes an ActionError naming the call."""

    def __init__(self, cfg: ElasticsearchTarget):
        self.cfg = cfg
        self.base_url = cfg.base_url()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.cfg.api_key is not None and self.cfg.api_key.get_secret_value():
            headers["Authorization"] = f"ApiKey {self.cfg.api_key.get_secret_value()}"
        return headers

    async def _call(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        timeout = self.cfg.timeout.total_seconds()
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as client:
                resp = await client.request(method, path, params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            raise ActionError(f"Elasticsearch {method} {path} failed: {exc!r}") from exc
        body = _json(resp)
        if resp.status_code >= 400:
            reason = _reason(body) or resp.text[:300]
            raise ActionError(
                f"Elasticsearch {method} {path} answered {resp.status_code}: {reason}",
                {"status": resp.status_code, "body": body},
            )
        return body

    async def cache_stats(self, index: str | None) -> dict[str, Any]:
        """GET /<index>/_stats/query_cache,request_cache,fielddata (read-only)."""
        path = (
            f"/{index}/_stats/query_cache,request_cache,fielddata"
            if index
            else "/_stats/query_cache,request_cache,fielddata"
        )
        body = await self._call("GET", path)
        return dict(body.get("_all", {}).get("total", {})) if isinstance(body, dict) else {}

    async def indices(self, index: str | None) -> list[dict[str, Any]]:
        """GET /_cat/indices[/<index>]?format=json (read-only)."""
        path = f"/_cat/indices/{index}" if index else "/_cat/indices"
        body = await self._call("GET", path, {"format": "json"})
        return list(body) if isinstance(body, list) else []

    async def clear_cache(self, index: str | None, cache_types: list[str]) -> Any:
        """POST /<index>/_cache/clear?query=true&request=true (only the chosen types)."""
        path = f"/{index}/_cache/clear" if index else "/_cache/clear"
        return await self._call("POST", path, {t: "true" for t in cache_types})

    async def reload_search_analyzers(self, index: str) -> Any:
        """POST /<index>/_reload_search_analyzers."""
        return await self._call("POST", f"/{index}/_reload_search_analyzers")

    async def update_by_query(self, index: str) -> Any:
        """POST /<index>/_update_by_query: re-index in place so stored tokens use new synonyms."""
        return await self._call(
            "POST",
            f"/{index}/_update_by_query",
            {"conflicts": "proceed", "wait_for_completion": "false"},
        )


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {"text": resp.text[:1000]}


def _reason(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("reason") or body["error"].get("type"))
    return None
