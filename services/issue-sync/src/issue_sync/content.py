"""Ticket and comment text, rendered from the Jinja2 templates in `templates/`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader

from . import runbook
from .domain import Op, template_for

TITLE_LIMIT = 250


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Markdown output: no HTML autoescaping; missing evidence renders empty, never crashes.
    return Environment(
        loader=PackageLoader("issue_sync", "templates"),
        autoescape=False,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def ticket_title(incident: dict[str, Any]) -> str:
    title = f"[{str(incident.get('severity', '')).upper()}] {incident.get('summary', '')}"
    return title[:TITLE_LIMIT]


def ticket_body(incident: dict[str, Any], *, marker: str, console: str) -> str:
    """The full ticket description for an incident, by kind."""
    details = incident.get("details") or {}
    name = template_for(str(incident.get("kind") or ""), details)
    severity = str(incident.get("severity") or "sev4")
    return _tidy(
        _env()
        .get_template(f"{name}.md.j2")
        .render(
            i=incident,
            d=details,
            console=console,
            marker=marker,
            sla=runbook.sla(severity),
            steps=runbook.steps(incident),
            causes=runbook.root_causes(incident),
        )
    )


def comment_body(event_type: str, event: dict[str, Any], *, console: str) -> str:
    return _tidy(
        _env().get_template("comment.md.j2").render(t=event_type, e=event, console=console)
    )


def render(op: Op, *, console: str) -> dict[str, Any]:
    """The stored payload of an op: the exact text the tracker will receive."""
    p = op.payload
    if op.kind == "open":
        incident = p["incident"]
        return {
            "title": ticket_title(incident),
            "labels": p["labels"],
            "marker": p["marker"],
            "body": ticket_body(incident, marker=p["marker"], console=console),
        }
    if op.kind == "comment":
        return {
            "body": comment_body(p["event_type"], p["event"], console=console),
            "event_type": p["event_type"],
        }
    return dict(p)


def _tidy(text: str) -> str:
    """Collapse the blank-line runs that template conditionals leave behind."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line.rstrip())
    return "\n".join(lines) + "\n"
