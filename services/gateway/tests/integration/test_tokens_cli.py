"""`interventions tokens`: create prints a token once and stores only its hash; revoke works."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from gateway.cli import app
from interventions_platform.auth import hash_token
from typer.testing import CliRunner

from ..conftest import Gateway


def run(dsn: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": dsn})
    return result.exit_code, result.stdout, result.stderr


async def test_create_prints_the_token_once_and_stores_only_its_hash(database_url: str) -> None:
    code, out, _ = await asyncio.to_thread(
        run, database_url, "create", "--name", "ci-bot", "--role", "producer", "--role", "viewer"
    )
    assert code == 0
    token = out.strip()
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM auth.tokens WHERE name = 'ci-bot'")
    finally:
        await conn.close()
    assert row["token_hash"] == hash_token(token)
    assert token not in str(dict(row))
    assert sorted(row["roles"]) == ["producer", "viewer"]
    code, listing, _ = await asyncio.to_thread(run, database_url, "list")
    assert "ci-bot\tproducer,viewer" in listing and token not in listing


async def test_an_unknown_role_is_refused_naming_the_valid_ones(database_url: str) -> None:
    code, _, err = await asyncio.to_thread(
        run, database_url, "create", "--name", "x", "--role", "root"
    )
    assert code == 1
    assert "viewer" in err and "root" in err


async def test_a_revoked_token_is_refused_by_the_gateway(gateway: Gateway) -> None:
    dsn = gateway.database_url
    code, out, _ = await asyncio.to_thread(
        run, dsn, "create", "--name", "leaked", "--role", "viewer"
    )
    assert code == 0
    assert (await asyncio.to_thread(run, dsn, "revoke", "leaked"))[0] == 0
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.get(
            "/api/incidents", headers={"authorization": f"Bearer {out.strip()}"}
        )
    assert resp.status_code == 401
    code, _, err = await asyncio.to_thread(run, dsn, "revoke", "leaked")
    assert code == 1 and "no active token" in err
