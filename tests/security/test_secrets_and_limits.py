"""Tokens hashed at rest and never in logs, events or error bodies; action targets only from
settings (no SSRF, no shell injection); request size and SSE stream limits; audit by principal."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from gateway import tokens as gateway_tokens
from interventions_testkit.chaos import USERS, Stack, TopicTap

from .conftest import client, open_incident


class Trap:
    """An HTTP server that must never be called (SSRF target)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


async def test_request_params_cannot_choose_an_action_target(stack: Stack) -> None:
    trap = Trap()
    marker = f"/tmp/pwned-{trap.server.server_address[1]}"
    inc = await open_incident(stack, "sec_ssrf")
    attempts = [
        ("clear_cache", {"index_name": trap.url}),
        ("clear_cache", {"index_name": "x", "url": trap.url, "host": trap.url}),
        ("refresh_synonyms", {"index_name": f"{trap.url}/_reload"}),
        ("rerun_dbt", {"models": [f"x; touch {marker}"], "project_dir": "/"}),
        ("rerun_dbt", {"models": ["$(touch " + marker + ")"]}),
        ("refresh_dbt_dependencies", {"project_path": f"/tmp; touch {marker}"}),
        ("rollback_planner", {"from_version": f"v1`touch {marker}`", "url": trap.url}),
        ("rerun_eval", {"agent": trap.url, "command": f"touch {marker}"}),
    ]
    async with client(stack, "approver") as c:
        for action, params in attempts:
            for verb in ("dry-run", "execute"):
                body = {"action_type": action, "params": params}
                resp = await c.post(
                    f"/api/playbooks/incidents/{inc['id']}/actions/{verb}", json=body
                )
                assert resp.status_code < 500, (action, verb, resp.text)
    await asyncio.sleep(2)
    trap.server.shutdown()
    assert trap.hits == []
    assert not __import__("os").path.exists(marker)


async def test_oversized_request_bodies_are_refused(stack: Stack) -> None:
    big = b"[" + b",".join([b'{"x": "' + b"a" * 1000 + b'"}'] * 3000) + b"]"
    async with client(stack, "producer") as c:
        resp = await c.post("/api/signals", content=big)
    assert resp.status_code == 413
    inc = await open_incident(stack, "sec_size")
    async with client(stack, "responder") as c:
        resp = await c.post(f"/api/incidents/{inc['id']}/notes", json={"text": "n" * 20_000})
    assert resp.status_code in (413, 422), resp.text


async def test_sse_streams_are_capped_per_token(stack: Stack) -> None:
    async with client(stack, "viewer") as c:
        streams = [c.stream("GET", "/api/sse/events") for _ in range(5)]
        opened = [await s.__aenter__() for s in streams]
        try:
            assert all(r.status_code == 200 for r in opened)
            sixth = await c.get("/api/sse/events")
            assert sixth.status_code == 429, sixth.text
            async with (
                client(stack, "responder") as other,
                other.stream("GET", "/api/sse/events") as r,
            ):
                assert r.status_code == 200
        finally:
            for s in streams:
                await s.__aexit__(None, None, None)


async def test_tokens_are_stored_as_hashes_only(stack: Stack) -> None:
    token = await gateway_tokens.create(stack.database_url, "sec-cli", ["viewer"])
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT name, token_hash, roles::text FROM auth.tokens")
    finally:
        await conn.close()
    row = next(r for r in rows if r["name"] == "sec-cli")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(tuple(r)) for r in rows)
    async with httpx.AsyncClient(base_url=stack.url) as c:
        me = await c.get("/api/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "sec-cli"


async def test_every_state_change_carries_its_principal(stack: Stack) -> None:
    inc = await open_incident(stack, "sec_audit")
    steps = [("acknowledge", {}), ("notes", {"text": "looking"}), ("resolve", {"notes": "ok"})]
    async with client(stack, "approver") as c:
        for verb, body in steps:
            resp = await c.post(f"/api/incidents/{inc['id']}/{verb}", json=body)
            assert resp.status_code == 200, resp.text
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT type, data::text, metadata::text FROM incidents.events "
            "WHERE stream_id = $1 ORDER BY stream_version",
            f"incident-{inc['id']}",
        )
    finally:
        await conn.close()
    by = {r["type"]: orjson.loads(r["data"]).get("by") for r in rows}
    assert all(by.values()), by  # services' own facts name the service
    assert by["IncidentOpened"] == "system"  # opened by the detection pipeline
    human = {by[t] for t in ("IncidentAcknowledged", "NoteAdded", "IncidentResolved")}
    assert human == {USERS["approver"][0]}, by


@pytest.mark.timeout(300)
async def test_tokens_never_appear_in_logs_events_or_error_bodies(
    stack: Stack, tap: TopicTap
) -> None:
    """Runs last in this module: every request above used the tokens."""
    bodies: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as c:
        for role in ("viewer", "producer"):
            tok = stack.tokens[role]
            for path in ("/api/incidents/1/acknowledge", "/api/signals", "/api/nowhere"):
                resp = await c.post(path, headers={"authorization": f"Bearer {tok}"}, content=b"{")
                bodies.append(resp.text)
            resp = await c.get("/api/sse/events", params={"access_token": tok + "x"})
            bodies.append(resp.text)
    await asyncio.sleep(1)
    logs = "".join(
        p.log_path.read_text(errors="replace") for ps in stack.procs.values() for p in ps
    )
    events = b"".join(v for _, v in tap.records)
    assert len(logs) > 1000 and len(events) > 0
    for role, tok in stack.tokens.items():
        assert tok not in logs, f"{role} token in a service log"
        assert tok.encode() not in events, f"{role} token in an event"
        assert all(tok not in b for b in bodies), f"{role} token echoed in an error body"
