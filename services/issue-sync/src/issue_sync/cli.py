"""`interventions check issue-provider`: the guide's "test adapter manually", in one line."""

from __future__ import annotations

import asyncio

import typer
from interventions_platform.config import ConfigError, load_raw

from . import settings
from .adapters.base import TrackerError, Unavailable
from .adapters.factory import build_tracker

app = typer.Typer(no_args_is_help=True, help="Check that outside systems are set up right.")


@app.callback()
def check() -> None:
    """Check that outside systems are set up right."""


@app.command("issue-provider")
def issue_provider(timeout: float = typer.Option(10.0, help="seconds per HTTP call")) -> None:
    """Validate the issue_provider settings and call the tracker's cheapest authenticated API."""
    ok, line = asyncio.run(diagnose(timeout))
    typer.echo(line, err=not ok)
    raise typer.Exit(0 if ok else 1)


async def diagnose(http_timeout: float = 10.0) -> tuple[bool, str]:
    """(ok, one line saying what is wrong or that all is well)."""
    try:
        cfg = settings.load(load_raw())
    except ConfigError as exc:
        return False, f"invalid configuration: {exc}"
    if cfg.provider is None:
        return False, (
            "no issue provider configured: set interventions.issue_provider.provider "
            "to github, gitlab or jira in settings.yaml"
        )
    tracker = build_tracker(cfg.provider, timeout=http_timeout)
    try:
        return True, await tracker.verify()
    except Unavailable as exc:
        return False, f"unreachable URL: {exc.message}"
    except TrackerError as exc:
        return False, exc.message
    finally:
        await tracker.aclose()
