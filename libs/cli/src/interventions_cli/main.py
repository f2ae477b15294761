"""The `interventions` CLI. Services add their own command groups through the
`interventions.cli` entry-point group (name = group name, value = a typer.Typer or a function
taking the root app), so this package never needs editing to grow."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Interventions: incidents from the event log.")


@app.callback()
def root() -> None:
    """Interventions: incidents from the event log."""


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo("interventions 0.1.0")


def _load_plugins() -> None:
    for ep in sorted(entry_points(group="interventions.cli"), key=lambda e: e.name):
        try:
            target = ep.load()
        except (ImportError, AttributeError) as exc:  # one broken plugin must not hide the rest
            typer.echo(f"warning: command group {ep.name!r} unavailable: {exc}", err=True)
            continue
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            target(app)


def _local_stack_defaults() -> None:
    """Without DATABASE_URL, use the database of a local `make run` (its URL is saved in
    .interventions/database-url), so admin commands work on the embedded stack as they are."""
    state = Path(os.environ.get("INTERVENTIONS_STATE_DIR", ".interventions"))
    url_file = state / "database-url"
    if not os.environ.get("DATABASE_URL") and url_file.exists():
        os.environ["DATABASE_URL"] = url_file.read_text().strip()


def main() -> None:
    _local_stack_defaults()
    _load_plugins()
    app(prog_name="interventions")


if __name__ == "__main__":
    main()
