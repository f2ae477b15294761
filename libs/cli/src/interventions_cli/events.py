"""`interventions events`: the wire contract generated from the code."""

from __future__ import annotations

import json

import typer
from interventions_events import asyncapi

app = typer.Typer(no_args_is_help=True, help="The event contract (AsyncAPI, catalogue).")


@app.command("asyncapi")
def asyncapi_doc(prefix: str = typer.Option("interventions.", help="topic prefix")) -> None:
    """Print the AsyncAPI 3.0 document as JSON."""
    typer.echo(json.dumps(asyncapi.generate(prefix), indent=2))


@app.command()
def catalogue() -> None:
    """Print the markdown event catalogue."""
    typer.echo(asyncapi.catalogue())
