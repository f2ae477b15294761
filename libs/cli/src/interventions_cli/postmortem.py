"""`interventions postmortem <id>`: a markdown post-mortem draft built from the log (the
guide's post-mortem step). `render` is pure: events in, markdown out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from incidents.domain import fold, parse_event
from incidents.outcomes import SLA_TARGETS, Lifecycle, lifecycle
from incidents.queries import describe
from interventions_eventstore import StoredEvent

from .incident import IdArg, event_time, load_incident, relative
from .replay import DbOpt, SchemaOpt


def _dur(seconds: float | None) -> str:
    return "n/a" if seconds is None else relative(seconds).lstrip("+")


def _since(lc: Lifecycle, t: datetime | None) -> float | None:
    return None if t is None else (t - lc.opened_at).total_seconds()


def render(events: list[StoredEvent], now: datetime) -> str:
    """The markdown draft for one incident stream."""
    parsed = [parse_event(e.type, e.data) for e in events]
    inc, lc = fold(parsed), lifecycle(parsed)
    if inc is None or lc is None:
        raise ValueError("the stream does not start with IncidentOpened")
    out = [f"# Post-mortem: incident {inc.id}: {inc.summary}", ""]
    out += _summary_section(inc.to_json())
    out += _impact(lc, now)
    out += _response(lc, now)
    out += ["## Timeline", "", "| T+ | at | by | what |", "|---|---|---|---|"]
    for e in events:
        t = event_time(e)
        out.append(
            f"| {relative((t - lc.opened_at).total_seconds())} | {t.isoformat()} | "
            f"{e.data.get('by', 'system')} | {_cell(describe(e.type, e.data))} |"
        )
    out += ["", *_actions(events), *_notifications(events, lc), *_ticket(inc.issue_url)]
    out += ["## Root cause", "", "_To be written._", ""]
    out += ["## Prevention", "", "_To be written: action items, owners, due dates._", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _summary_section(j: dict[str, Any]) -> list[str]:
    return [
        "## Summary",
        "",
        f"- Key: `{j['key']}` ({j['kind']}), subject {j['subject'] or 'n/a'}",
        f"- Severity: {j['severity']}; owner team: {j['owner_team']}",
        f"- Status: {j['status']}" + (f" ({j['resolution']})" if j["resolution"] else ""),
        f"- Occurrences: {j['occurrences']}; last seen {j['last_seen_at']}",
        f"- Suggested playbooks: {', '.join(j['playbooks']) or 'none'}",
        "",
    ]


def _impact(lc: Lifecycle, now: datetime) -> list[str]:
    end = lc.reached("mitigate")
    length = _dur(_since(lc, end)) if end else f"ongoing ({_dur(_since(lc, now))} so far)"
    return [
        "## Impact window",
        "",
        f"- Detected: {lc.opened_at.isoformat()}",
        f"- Mitigated: {end.isoformat() if end else 'not yet'}",
        f"- Duration: {length}",
        "",
    ]


def _response(lc: Lifecycle, now: datetime) -> list[str]:
    targets = SLA_TARGETS.get(lc.severity)
    breaches = lc.breaches(now)
    rows = [
        ("MTTA (time to acknowledge)", "acknowledge", lc.acknowledged_at),
        ("Time to mitigate", "mitigate", lc.mitigated_at),
        ("MTTR (time to resolve)", "resolve", lc.resolved_at),
    ]
    out = ["## Response", "", "| measure | value | target | met |", "|---|---|---|---|"]
    for label, stage, t in rows:
        target = getattr(targets, stage) if targets else None
        met = "n/a" if targets is None else ("no" if stage in breaches else "yes")
        limit = _dur(target.total_seconds()) if target else "none"
        out.append(f"| {label} | {_dur(_since(lc, t))} | {limit} | {met} |")
    return [*out, ""]


def _actions(events: list[StoredEvent]) -> list[str]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e.type == "ActionRecorded":
            runs.setdefault(str(e.data["execution_id"]), []).append(e.data)
    out = ["## Actions tried", ""]
    if not runs:
        return [*out, "None.", ""]
    out += ["| action | steps | outcome | by |", "|---|---|---|---|"]
    for steps in runs.values():
        finals = [s["step"] for s in steps if s["step"] in ("succeeded", "failed", "rolled_back")]
        outcome = finals[-1] if finals else "unfinished"
        detail = next((s.get("detail") for s in reversed(steps) if s.get("detail")), None)
        outcome += f": {detail}" if detail else ""
        out.append(
            f"| {steps[0]['action_type']} | {' -> '.join(s['step'] for s in steps)} | "
            f"{_cell(outcome)} | {steps[0].get('by', 'system')} |"
        )
    return [*out, ""]


def _notifications(events: list[StoredEvent], lc: Lifecycle) -> list[str]:
    out = ["## Notifications and escalations", ""]
    for e in events:
        if e.type in ("NotificationRecorded", "IncidentEscalated"):
            rel = relative((event_time(e) - lc.opened_at).total_seconds())
            out.append(f"- {rel} {_cell(describe(e.type, e.data))}" + _why(e.data))
    if len(out) == 2:
        out.append("None.")
    return [*out, ""]


def _why(d: dict[str, Any]) -> str:
    why = d.get("detail") or d.get("reason")
    return f" ({why})" if why else ""


def _ticket(url: str | None) -> list[str]:
    return ["## Ticket", "", url or "No ticket linked.", ""]


def postmortem(
    incident_id: IdArg,
    output: Annotated[Path | None, typer.Option(help="write the draft to this file")] = None,
    database_url: DbOpt = None,
    schema: SchemaOpt = "incidents",
) -> None:
    """Write a markdown post-mortem draft (stdout, or --output)."""
    text = render(load_incident(database_url, schema, incident_id), datetime.now(UTC))
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text)
        typer.echo(f"post-mortem draft written to {output}")


def register(app: typer.Typer) -> None:
    app.command("postmortem")(postmortem)
