"""`interventions simulate --settings new.yaml --from T1 --to T2`: what a different policy
(dedup, rate limits, severity, routing) would have done with the recorded detections."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from incidents.readmodel import incident_stream
from incidents.settings import IncidentsSettings, load_settings
from interventions_platform.config import ConfigError, load_raw
from rich.console import Console
from rich.table import Table

from . import store
from .progress import bar
from .replay import DbOpt, SchemaOpt
from .whatif import History, Original, Outcome, Recorded, simulate

ASSUMPTIONS = (
    "a simulated incident stays active until its key's next recorded resolution; "
    "suppressed detections recorded before decisions stored kind and evidence borrow "
    "their key's evidence"
)


async def _load(
    pool: asyncpg.Pool, schema: str, t1: datetime, t2: datetime, warmup: datetime, show: bool
) -> tuple[list[Recorded], History]:
    recorded: list[Recorded] = []
    total = await store.count_range(
        pool, schema, warmup, t2, " AND type = $3", ["DetectionDecided"]
    )
    with bar("reading detections", total, enabled=show) as advance:
        async for e in store.read_range(pool, schema, warmup, t2, types=["DetectionDecided"]):
            d = e.data
            at = datetime.fromisoformat(d["at"])
            recorded.append(
                Recorded(
                    d["detection_id"],
                    d["detection_type"],
                    d["key"],
                    d.get("subject", ""),
                    d.get("hint"),
                    at,
                    d["decision"],
                    d.get("incident_id"),
                    report=at >= t1,
                    kind=d.get("kind"),
                    evidence=d.get("evidence"),
                )
            )
            advance(1)
    return recorded, await _history(pool, schema, sorted({r.key for r in recorded}))


async def _history(pool: asyncpg.Pool, schema: str, keys: list[str]) -> History:
    rows = await pool.fetch(
        f"SELECT data FROM {schema}.events WHERE type = 'IncidentOpened' "
        "AND data->>'key' = ANY($1) ORDER BY global_position",
        keys,
    )
    originals: dict[int, Original] = {}
    evidence: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = r["data"]
        iid = int(d["incident_id"])
        originals[iid] = Original(
            iid,
            d["key"],
            d["kind"],
            d["severity"],
            d["owner_team"],
            tuple(d.get("playbooks", ())),
            d["summary"],
        )
        evidence[d["detection_id"]] = d.get("details", {})
    streams = [incident_stream(i) for i in originals]
    more = await pool.fetch(
        f"SELECT type, data FROM {schema}.events WHERE stream_id = ANY($1) AND type IN "
        "('OccurrenceRecorded', 'IncidentResolved') ORDER BY global_position",
        streams,
    )
    resolved: dict[str, list[datetime]] = {}
    for r in more:
        d = r["data"]
        if r["type"] == "OccurrenceRecorded":
            evidence[d["detection_id"]] = d.get("details", {})
        else:
            key = originals[int(d["incident_id"])].key
            resolved.setdefault(key, []).append(datetime.fromisoformat(d["at"]))
    key_evidence = {o.key: evidence[d] for d, o in _by_detection(rows, originals).items()}
    return History(originals, evidence, {k: sorted(v) for k, v in resolved.items()}, key_evidence)


def _by_detection(
    rows: list[asyncpg.Record], originals: dict[int, Original]
) -> dict[str, Original]:
    return {r["data"]["detection_id"]: originals[int(r["data"]["incident_id"])] for r in rows}


def _settings(path: Path) -> IncidentsSettings:
    try:
        return load_settings(load_raw(path))
    except (ConfigError, OSError, ValueError) as exc:
        raise typer.BadParameter(f"--settings {path}: {exc}") from None


def _print(out: Outcome, s: IncidentsSettings) -> None:
    console = Console(width=200)
    console.print(
        f"policy: max {s.limits.max_per_window} incident(s) per key per "
        f"{s.limits.window} ; assumptions: {ASSUMPTIONS}"
    )
    console.print(f"original decisions:  {out.counts['original']}")
    console.print(f"simulated decisions: {out.counts['simulated']}")
    console.print(
        "would not have opened: " + (", ".join(f"#{i}" for i in out.not_opened) or "none")
    )
    console.print(f"would have opened (new): {len(out.newly_opened)}")
    for n in out.new_incidents:
        console.print(
            f"  {n['at']} {n['key']}: {n['severity']} for {n['owner_team']}: {n['summary']}"
        )
    if out.borrowed_evidence:
        console.print(f"evidence borrowed from the key (older decisions): {out.borrowed_evidence}")
    if out.diffs:
        table = Table("at", "key", "detection", "original", "simulated")
        for d in out.diffs:
            orig = d.original + (f" #{d.incident_id}" if d.incident_id else "")
            table.add_row(d.at.isoformat(), d.key, d.detection_id, orig, d.simulated)
        console.print(table)
    for d in out.reassessed:
        changes = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in d.changes.items())
        console.print(f"incident #{d.incident_id} ({d.key}) would differ: {changes}")


def simulate_cmd(
    settings: Annotated[Path, typer.Option("--settings", help="the settings.yaml to try")],
    start: Annotated[str, typer.Option("--from", help="RFC 3339, `now` or `2h` (ago)")],
    end: Annotated[str, typer.Option("--to", help="RFC 3339, `now` or `2h` (ago)")] = "now",
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    database_url: DbOpt = None,
    schema: SchemaOpt = "incidents",
) -> None:
    """Replay recorded detections through another policy in memory; print what differs."""
    s = _settings(settings)
    t1, t2 = store.parse_time(start), store.parse_time(end)
    warmup = t1 - s.limits.window  # earlier openings count against the rate limit

    async def work(pool: asyncpg.Pool) -> tuple[list[Recorded], History]:
        return await _load(pool, schema, t1, t2, warmup, fmt == "table")

    recorded, history = store.run(database_url, work)
    out = simulate(recorded, history, s.limits, s.policy)
    if fmt == "json":
        typer.echo(json.dumps({**out.to_json(), "assumptions": ASSUMPTIONS}, indent=2))
    else:
        _print(out, s)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
