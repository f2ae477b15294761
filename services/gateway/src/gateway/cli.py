"""`interventions tokens ...`: create, list and revoke API tokens (needs DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from . import tokens

app = typer.Typer(no_args_is_help=True, help="API tokens (only their hashes are stored).")


def _dsn() -> str:
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        typer.echo("set DATABASE_URL to the platform's PostgreSQL", err=True)
        raise typer.Exit(2)
    return dsn


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="who or what holds the token")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="viewer, responder, approver, admin or producer; repeat for several"
        ),
    ],
) -> None:
    """Create a token and print it once."""
    try:
        token = asyncio.run(tokens.create(_dsn(), name, role))
    except tokens.TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(token)
    typer.echo(
        f"token for {name!r} ({', '.join(sorted(set(role)))}); it is not shown again", err=True
    )


@app.command("list")
def list_tokens() -> None:
    """List tokens: name, roles, created, revoked."""
    for row in asyncio.run(tokens.list_all(_dsn())):
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        typer.echo(f"{row.name}\t{','.join(row.roles)}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@app.command()
def revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token by name."""
    try:
        asyncio.run(tokens.revoke(_dsn(), name))
    except tokens.TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {name!r}")
