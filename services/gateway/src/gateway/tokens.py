"""Token records in the `auth.tokens` table: only SHA-256 hashes are stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from interventions_eventstore import migrate
from interventions_platform.auth import AUTH_MIGRATIONS, ROLES, hash_token, new_token

SCHEMA = "auth"


class TokenError(ValueError):
    """A token command that cannot be carried out, with what to do instead."""


@dataclass(frozen=True, slots=True)
class TokenRow:
    name: str
    roles: list[str]
    created_at: datetime
    revoked_at: datetime | None


async def _connect(dsn: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await migrate(pool, SCHEMA, AUTH_MIGRATIONS, component="auth")
    return pool


async def create(dsn: str, name: str, roles: Sequence[str]) -> str:
    """Store a new token's hash under `name`; returns the token (shown once, never stored)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise TokenError(f"unknown role(s) {unknown or roles}; choose from {', '.join(ROLES)}")
    token = new_token()
    pool = await _connect(dsn)
    try:
        await pool.execute(
            f"INSERT INTO {SCHEMA}.tokens (name, token_hash, roles) VALUES ($1, $2, $3)",
            name,
            hash_token(token),
            sorted(set(roles)),
        )
    except asyncpg.UniqueViolationError:
        raise TokenError(f"a token named {name!r} exists; revoke it or pick another name") from None
    finally:
        await pool.close()
    return token


async def list_all(dsn: str) -> list[TokenRow]:
    pool = await _connect(dsn)
    try:
        rows = await pool.fetch(
            f"SELECT name, roles, created_at, revoked_at FROM {SCHEMA}.tokens ORDER BY name"
        )
    finally:
        await pool.close()
    return [TokenRow(r["name"], list(r["roles"]), r["created_at"], r["revoked_at"]) for r in rows]


async def revoke(dsn: str, name: str) -> None:
    """Mark the token revoked (kept for the audit trail); services stop accepting it within
    their token cache TTL (5 s)."""
    pool = await _connect(dsn)
    try:
        done = await pool.fetchval(
            f"UPDATE {SCHEMA}.tokens SET revoked_at = now() WHERE name = $1 "
            "AND revoked_at IS NULL RETURNING name",
            name,
        )
    finally:
        await pool.close()
    if done is None:
        raise TokenError(f"no active token named {name!r}; see `interventions tokens list`")
