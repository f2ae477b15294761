"""The goals from issue 10, the table printed after a run and bench-results.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

Results = dict[str, float]


@dataclass(frozen=True)
class Goal:
    text: str
    met: Callable[[Results], bool] | None  # None: a baseline, no goal

    def verdict(self, r: Results) -> str:
        if self.met is None:
            return "baseline"
        return "met" if self.met(r) else "NOT MET"


def _at_least(key: str, floor: float, raw: str | None = None, share: float = 0) -> Goal:
    text = f">= {floor:,.0f}" + (f" and >= {share} x {raw}" if raw else "")
    return Goal(text, lambda r: r[key] >= floor and (raw is None or r[key] >= share * r[raw]))


def _at_most(key: str, ceiling: float) -> Goal:
    return Goal(f"<= {ceiling:,.0f}", lambda r: r[key] <= ceiling)


GOALS: dict[str, Goal] = {
    "raw_consume_per_s": Goal("baseline", None),
    "raw_parse_per_s": Goal("baseline", None),
    "watcher_signals_per_s": _at_least("watcher_signals_per_s", 40_000, "raw_parse_per_s", 0.5),
    "raw_insert_rows_per_s": Goal("baseline", None),
    "incident_decisions_per_s": _at_least(
        "incident_decisions_per_s", 10_000, "raw_insert_rows_per_s", 0.2
    ),
    "e2e_p50_ms": Goal("(p99 goal below)", None),
    "e2e_p99_ms": _at_most("e2e_p99_ms", 100),
    "raw_read_rows_per_s": Goal("baseline", None),
    "replay_events_per_s": _at_least("replay_events_per_s", 100_000),
    "projection_rebuild_events_per_s": _at_least("projection_rebuild_events_per_s", 25_000),
    "api_list_req_per_s": _at_least("api_list_req_per_s", 1_000),
    "api_list_p99_ms": _at_most("api_list_p99_ms", 50),
    "sse_fanout_p99_ms": _at_most("sse_fanout_p99_ms", 1_000),
    "rss_mb_max": _at_most("rss_mb_max", 150),
}
KEYS = tuple(GOALS)


def table(results: Results, title: str) -> Table:
    t = Table(title=title)
    for name, justify in (("key", "left"), ("value", "right"), ("goal", "left"), ("", "left")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, goal in GOALS.items():
        verdict = goal.verdict(results)
        style = {"met": "green", "NOT MET": "bold red"}.get(verdict, "dim")
        t.add_row(key, f"{results[key]:,.1f}", goal.text, f"[{style}]{verdict}[/]")
    return t


def write(results: Results, path: Path) -> None:
    """bench-results.json: exactly the keys above, each a number (the run's facts are
    printed under the table, not stored beside the numbers)."""
    missing = [k for k in KEYS if k not in results]
    if missing:
        raise ValueError(f"no result for {', '.join(missing)}")
    path.write_bytes(orjson.dumps({k: float(results[k]) for k in KEYS}, option=orjson.OPT_INDENT_2))


def print_table(results: Results, title: str, meta: dict[str, object]) -> None:
    console = Console(width=120)
    console.print(table(results, title))
    for name, value in meta.items():
        console.print(f"[dim]{name}: {value}[/]")
    unmet = [k for k, g in GOALS.items() if g.verdict(results) == "NOT MET"]
    console.print(f"goals not met: {', '.join(unmet)}" if unmet else "every goal met")
