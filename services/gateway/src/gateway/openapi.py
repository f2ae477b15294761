"""One OpenAPI document for the whole origin: the gateway's own routes, every service's `/api`
paths (fetched from their /openapi.json and refreshed), and a placeholder for any pinned path
whose service could not be reached, so /docs always lists every pinned path."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import routes

log = logging.getLogger(__name__)
Doc = dict[str, Any]
REF = "#/components/schemas/"


class OpenApiMerger:
    """Keeps the latest OpenAPI document of each upstream and merges them on demand."""

    def __init__(self, upstreams: dict[str, str], client: httpx.AsyncClient, refresh_s: float):
        self.upstreams = upstreams
        self.client = client
        self.refresh_s = refresh_s
        self.docs: dict[str, Doc] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="openapi-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        """Fetch every upstream's document once; a failure keeps the previous copy."""
        await asyncio.gather(*(self._fetch(s, u) for s, u in self.upstreams.items()))

    async def _fetch(self, service: str, base: str) -> None:
        try:
            resp = await self.client.get(base + "/openapi.json", timeout=2.0)
            resp.raise_for_status()
            self.docs[service] = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("openapi of %s not available: %s", service, exc)

    async def _loop(self) -> None:
        delay = 0.5
        while True:
            await self.refresh()
            # quick retries until every service answered once, then a slow refresh
            complete = len(self.docs) == len(self.upstreams)
            delay = self.refresh_s if complete else min(delay * 2, self.refresh_s)
            await asyncio.sleep(delay)

    def document(self, app: FastAPI) -> Doc:
        """The merged document (built fresh: upstream documents may have changed)."""
        doc = get_openapi(
            title="Interventions API",
            version=app.version,
            routes=app.routes,
            description="One origin for every Interventions API. Bearer-token "
            "auth on everything but /healthz.",
        )
        for service, upstream in sorted(self.docs.items()):
            merge(doc, service, upstream)
        add_missing_pinned(doc, set(self.docs))
        secure(doc)
        return doc


def merge(doc: Doc, service: str, upstream: Doc) -> None:
    """Add the upstream's `/api` paths and their schemas; clashing schema names get prefixed."""
    upstream = copy.deepcopy(upstream)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    theirs = upstream.get("components", {}).get("schemas", {})
    renames = {n: f"{service}__{n}" for n, s in theirs.items() if n in schemas and schemas[n] != s}
    if renames:
        upstream = _rewrite_refs(upstream, renames)
        theirs = upstream.get("components", {}).get("schemas", {})
    for name, schema in theirs.items():
        schemas.setdefault(renames.get(name, name), schema)
    for path, item in upstream.get("paths", {}).items():
        if path.startswith("/api/") and path not in doc["paths"]:
            for op in item.values():
                if isinstance(op, dict):
                    op.setdefault("tags", [service])
            doc["paths"][path] = item


def add_missing_pinned(doc: Doc, reachable: set[str]) -> None:
    """A placeholder for each pinned path/method nobody described (parameter names may
    differ: `{id}` here, `{incident_id}` in a service)."""
    described = {(m.lower(), _shape(p)) for p, item in doc["paths"].items() for m in item}
    for route in routes.PINNED:
        if (route.method.lower(), _shape(route.path)) in described:
            continue
        item = doc["paths"].setdefault(route.path, {})
        state = "schema not fetched yet" if route.service not in reachable else "undocumented"
        params = (
            [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
            if "{id}" in route.path
            else []
        )
        item[route.method.lower()] = {
            "tags": [route.service],
            "summary": route.summary,
            "parameters": params,
            "description": f"Served by the {route.service} service ({state}). "
            f"Needs the {route.role} role.",
            "responses": {
                "200": {"description": "OK"},
                "401": {"description": "no token"},
                "403": {"description": "role missing"},
            },
        }


def _shape(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", path)


def secure(doc: Doc) -> None:
    comps = doc.setdefault("components", {})
    comps.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    doc["security"] = [{"bearer": []}]


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF):
                name = value[len(REF) :]
                value = REF + renames.get(name, name)
            elif key == "schemas" and isinstance(value, dict):
                value = {renames.get(k, k): _rewrite_refs(v, renames) for k, v in value.items()}
                out[key] = value
                continue
            out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node
