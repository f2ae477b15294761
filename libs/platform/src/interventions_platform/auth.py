"""Bearer-token authentication and roles, shared by the gateway and every service API.

Tokens are random strings; only their SHA-256 hashes are kept at rest (settings `auth.tokens`
and the `auth.tokens` table the CLI manages). Identity always comes from the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "responder", "approver", "admin", "producer"]
ROLES: tuple[Role, ...] = ("viewer", "responder", "approver", "admin", "producer")
# what each role also grants; producer only ingests signals
_IMPLIES: dict[str, set[str]] = {
    "viewer": {"viewer"},
    "responder": {"viewer", "responder"},
    "approver": {"viewer", "responder", "approver"},
    "admin": {"viewer", "responder", "approver", "admin", "producer"},
    "producer": {"producer"},
}

AUTH_MIGRATIONS = [
    """
    CREATE TABLE {schema}.tokens (
        name text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        roles text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );
    """,
]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "iv_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return any(role in _IMPLIES.get(r, set()) for r in self.roles)


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: list[Role]


class AuthSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tokens: list[TokenEntry] = Field(default_factory=list)


class TokenStore:
    """Resolves a presented token to a principal from: the admin token, settings, the DB."""

    def __init__(
        self,
        *,
        admin_token: str | None = None,
        entries: list[TokenEntry] | None = None,
        pool: asyncpg.Pool | None = None,
        schema: str = "auth",
        cache_ttl_s: float = 5.0,
    ):
        self._static: dict[str, Principal] = {}
        if admin_token:
            self._static[hash_token(admin_token)] = Principal("admin", frozenset({"admin"}))
        for e in entries or []:
            self._static[e.hash] = Principal(e.name, frozenset(e.roles))
        self.pool = pool
        self.schema = schema
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, static in self._static.items():
            if hmac.compare_digest(known, digest):
                return static
        if self.pool is None:
            return None
        hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        principal = await self._lookup(digest)
        self._cache[digest] = (time.monotonic() + self.cache_ttl_s, principal)
        return principal

    async def _lookup(self, digest: str) -> Principal | None:
        assert self.pool is not None
        try:
            row = await self.pool.fetchrow(
                f"SELECT name, roles FROM {self.schema}.tokens "
                "WHERE token_hash = $1 AND revoked_at IS NULL",
                digest,
            )
        except asyncpg.UndefinedTableError:
            return None
        return Principal(row["name"], frozenset(row["roles"])) if row else None


async def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the caller's principal, or 401 saying how to authenticate."""
    store: TokenStore = request.app.state.tokens
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await store.resolve(token.strip())
    if principal is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(role: Role) -> Any:
    """Dependency factory: the caller must hold `role` (or a role that implies it)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(
                403, f"this action needs the {role} role; your token has {sorted(principal.roles)}"
            )
        return principal

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Responder = Annotated[Principal, require("responder")]
Approver = Annotated[Principal, require("approver")]
Admin = Annotated[Principal, require("admin")]
Producer = Annotated[Principal, require("producer")]


def same_person(principal: Principal, named: str | None, field: str) -> None:
    """A body may name the caller (the guide's `acknowledged_by`) but never someone else."""
    if named is not None and named != principal.name:
        raise HTTPException(
            403,
            f"{field} must be you ({principal.name!r}) or omitted: identity comes from the "
            "token, not the request body",
        )
