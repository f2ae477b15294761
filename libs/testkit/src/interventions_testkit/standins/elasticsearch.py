"""An Elasticsearch stand-in: a real HTTP server that checks requests against the documented
REST API (cache stats and clear, `_cat/indices`, `_reload_search_analyzers`,
`_update_by_query`), answers in Elasticsearch's shapes, and records every request."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._http import base_url, close, serve

CACHE_FLAGS = {"query", "request", "fielddata", "fields", "index"}
_STATS_METRICS = {"query_cache", "request_cache", "fielddata", "docs", "store"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class IndexState:
    docs: int = 100
    query_cache_bytes: int = 4096
    request_cache_bytes: int = 2048
    fielddata_bytes: int = 1024
    analyzer_reloads: int = 0


@dataclass
class ElasticsearchStandIn:
    """Start with `start()`; `url` is its base URL; `requests` records everything received."""

    indices: dict[str, IndexState] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail_status: int | None = None  # when set, every write answers this status
    _server: ThreadingHTTPServer | None = None

    def start(self) -> ElasticsearchStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        close(self._server)

    @property
    def url(self) -> str:
        return base_url(self._server)

    def methods(self) -> set[str]:
        return {r.method for r in self.requests}

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


def _error(status: int, typ: str, reason: str) -> tuple[int, Any]:
    return status, {
        "error": {"root_cause": [{"type": typ, "reason": reason}], "type": typ, "reason": reason},
        "status": status,
    }


def _shards() -> dict[str, int]:
    return {"total": 2, "successful": 2, "failed": 0}


class _Handler(BaseHTTPRequestHandler):
    owner: ElasticsearchStandIn

    def log_message(self, *_: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.owner.requests.append(
            Recorded(method, parts.path, query, dict(self.headers.items()), body)
        )
        status, doc = self._route(method, parts.path, query)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _index(self, name: str) -> IndexState | None:
        return self.owner.indices.get(name)

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if method != "GET" and self.owner.fail_status:
            return _error(
                self.owner.fail_status, "unavailable_shards_exception", "stand-in told to fail"
            )
        if m := re.fullmatch(r"(?:/([^/_][^/]*))?/_cache/clear", path):
            return self._clear(method, m.group(1), query)
        if m := re.fullmatch(r"(?:/([^/_][^/]*))?/_stats(?:/([a-z_,]+))?", path):
            return self._stats(method, m.group(1), m.group(2))
        if m := re.fullmatch(r"/_cat/indices(?:/([^/]+))?", path):
            return self._cat(method, m.group(1), query)
        if m := re.fullmatch(r"/([^/_][^/]*)/_reload_search_analyzers", path):
            return self._reload(method, m.group(1))
        if m := re.fullmatch(r"/([^/_][^/]*)/_update_by_query", path):
            return self._update_by_query(method, m.group(1), query)
        return _error(400, "illegal_argument_exception", f"no handler for [{method} {path}]")

    def _missing(self, name: str) -> tuple[int, Any]:
        return _error(404, "index_not_found_exception", f"no such index [{name}]")

    def _clear(self, method: str, index: str | None, query: dict[str, str]) -> tuple[int, Any]:
        if method != "POST":
            return _error(405, "method_not_allowed", "_cache/clear accepts POST only")
        unknown = (
            set(query)
            - CACHE_FLAGS
            - {"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
        )
        if unknown:
            return _error(
                400,
                "illegal_argument_exception",
                f"request [{index}/_cache/clear] contains unrecognized parameters: {sorted(unknown)}",
            )
        if any(query.get(f) not in (None, "true", "false") for f in CACHE_FLAGS):
            return _error(400, "illegal_argument_exception", "cache flags must be true or false")
        targets = [index] if index else list(self.owner.indices)
        if index and self._index(index) is None:
            return self._missing(index)
        for name in targets:
            state = self.owner.indices[name]
            everything = not any(query.get(f) == "true" for f in CACHE_FLAGS)
            if everything or query.get("query") == "true":
                state.query_cache_bytes = 0
            if everything or query.get("request") == "true":
                state.request_cache_bytes = 0
            if everything or query.get("fielddata") == "true":
                state.fielddata_bytes = 0
        return 200, {"_shards": _shards()}

    def _stats(self, method: str, index: str | None, metrics: str | None) -> tuple[int, Any]:
        if method != "GET":
            return _error(405, "method_not_allowed", "_stats accepts GET only")
        if metrics and not set(metrics.split(",")) <= _STATS_METRICS:
            return _error(400, "illegal_argument_exception", f"unknown index metric [{metrics}]")
        if index and self._index(index) is None:
            return self._missing(index)
        names = [index] if index else list(self.owner.indices)
        total = {
            "query_cache": {"memory_size_in_bytes": 0, "hit_count": 0, "miss_count": 0},
            "request_cache": {"memory_size_in_bytes": 0, "hit_count": 0, "miss_count": 0},
            "fielddata": {"memory_size_in_bytes": 0, "evictions": 0},
        }
        for n in names:
            s = self.owner.indices[n]
            total["query_cache"]["memory_size_in_bytes"] += s.query_cache_bytes
            total["request_cache"]["memory_size_in_bytes"] += s.request_cache_bytes
            total["fielddata"]["memory_size_in_bytes"] += s.fielddata_bytes
        return 200, {"_shards": _shards(), "_all": {"primaries": total, "total": total}}

    def _cat(self, method: str, index: str | None, query: dict[str, str]) -> tuple[int, Any]:
        if method != "GET":
            return _error(405, "method_not_allowed", "_cat accepts GET only")
        if index and self._index(index) is None:
            return self._missing(index)
        names = [index] if index else list(self.owner.indices)
        rows = [
            {
                "health": "green",
                "status": "open",
                "index": n,
                "docs.count": str(self.owner.indices[n].docs),
            }
            for n in names
        ]
        if query.get("format") == "json":
            return 200, rows
        return 200, "\n".join(f"{r['health']} {r['status']} {r['index']}" for r in rows)

    def _reload(self, method: str, index: str) -> tuple[int, Any]:
        if method not in ("GET", "POST"):
            return _error(405, "method_not_allowed", "_reload_search_analyzers accepts GET or POST")
        state = self._index(index)
        if state is None:
            return self._missing(index)
        state.analyzer_reloads += 1
        return 200, {
            "_shards": _shards(),
            "reload_details": [
                {
                    "index": index,
                    "reloaded_analyzers": ["synonym_analyzer"],
                    "reloaded_node_ids": ["stand-in-node"],
                }
            ],
        }

    def _update_by_query(self, method: str, index: str, query: dict[str, str]) -> tuple[int, Any]:
        if method != "POST":
            return _error(405, "method_not_allowed", "_update_by_query accepts POST only")
        if self._index(index) is None:
            return self._missing(index)
        if query.get("wait_for_completion") == "false":
            return 200, {"task": "stand-in-node:1"}
        return 200, {"took": 1, "updated": self.owner.indices[index].docs, "failures": []}
