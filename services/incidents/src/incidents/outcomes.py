"""Outcome metrics derived from the event log over a window: incident rate, MTTA, MTTR, SLA
compliance per severity, playbook success, false positives, dedup and suppression counts.
`summarize` is pure; `load_summary` reads the store; `router` serves
`GET /api/metrics/summary`; `OutcomeCollector` exposes the same numbers to Prometheus."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query
from interventions_events.incidents import (
    ActionRecorded,
    IncidentAcknowledged,
    IncidentEvent,
    IncidentMitigated,
    IncidentOpened,
    IncidentResolved,
    SeverityChanged,
)
from interventions_platform.auth import Viewer
from interventions_platform.durations import parse_duration
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from . import outcome_totals
from .domain import parse_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Targets:
    """Runbook response targets for one severity."""

    acknowledge: timedelta
    mitigate: timedelta
    resolve: timedelta


# the runbook's targets (guide: severity levels); sev4 has none
SLA_TARGETS: dict[str, Targets] = {
    "sev1": Targets(timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=4)),
    "sev2": Targets(timedelta(minutes=15), timedelta(hours=4), timedelta(hours=24)),
    "sev3": Targets(timedelta(hours=1), timedelta(hours=24), timedelta(weeks=1)),
}
STAGES = ("acknowledge", "mitigate", "resolve")
FINAL_ACTION_STEPS = ("succeeded", "failed")


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The response times of one incident (first acknowledgement, mitigation, resolution)."""

    id: int
    kind: str
    severity: str
    opened_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None

    def reached(self, stage: str) -> datetime | None:
        """When a stage was reached; a later stage implies the earlier ones (a resolve without
        an acknowledgement still ended the wait)."""
        chain = {
            "acknowledge": (self.acknowledged_at, self.mitigated_at, self.resolved_at),
            "mitigate": (self.mitigated_at, self.resolved_at),
            "resolve": (self.resolved_at,),
        }[stage]
        times = [t for t in chain if t is not None]
        return min(times) if times else None

    def breaches(self, now: datetime) -> list[str]:
        """The stages that missed (or, still pending, are already past) their target."""
        targets = SLA_TARGETS.get(self.severity)
        if targets is None:
            return []
        out = []
        for stage in STAGES:
            due = self.opened_at + getattr(targets, stage)
            if (self.reached(stage) or now) > due:
                out.append(stage)
        return out


def lifecycle(events: Iterable[IncidentEvent]) -> Lifecycle | None:
    """Response times from one incident stream (first time each stage was reached)."""
    lc: Lifecycle | None = None
    for e in events:
        if isinstance(e, IncidentOpened):
            lc = Lifecycle(e.incident_id, e.kind, e.severity, e.at)
        elif lc is None:
            continue
        elif isinstance(e, IncidentAcknowledged) and lc.acknowledged_at is None:
            lc = _with(lc, acknowledged_at=e.at)
        elif isinstance(e, IncidentMitigated) and lc.mitigated_at is None:
            lc = _with(lc, mitigated_at=e.at)
        elif isinstance(e, IncidentResolved):
            lc = _with(lc, resolved_at=lc.resolved_at or e.at, resolution=e.resolution)
        elif isinstance(e, SeverityChanged):
            lc = _with(lc, severity=e.to_severity)
    return lc


def _with(lc: Lifecycle, **changes: Any) -> Lifecycle:
    return replace(lc, **changes)


def action_outcomes(actions: Iterable[ActionRecorded]) -> Counter[str]:
    """Final outcome per execution (its last succeeded/failed step)."""
    final: dict[str, str] = {}
    for a in actions:
        if a.step in FINAL_ACTION_STEPS:
            final[a.execution_id] = a.step
    return Counter(final.values())


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Summary:
    """The window's outcome numbers (JSON via `to_json`)."""

    since: datetime
    until: datetime
    incidents: list[Lifecycle]
    actions: Counter[str] = field(default_factory=Counter)
    decisions: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        hours = max((self.until - self.since).total_seconds() / 3600, 1e-9)
        acked = [i for i in self.incidents if i.acknowledged_at is not None]
        resolved = [i for i in self.incidents if i.resolved_at is not None]
        fps = sum(1 for i in resolved if i.resolution == "false_positive")
        done = self.actions["succeeded"] + self.actions["failed"]
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "incidents": {
                "opened": len(self.incidents),
                "per_hour": round(len(self.incidents) / hours, 4),
                "per_day": round(len(self.incidents) / hours * 24, 4),
                "by_severity": dict(sorted(Counter(i.severity for i in self.incidents).items())),
                "by_kind": dict(sorted(Counter(i.kind for i in self.incidents).items())),
                "acknowledged": len(acked),
                "resolved": len(resolved),
            },
            "mtta_seconds": _mean([_secs(i.acknowledged_at, i.opened_at) for i in acked]),
            "mttr_seconds": _mean([_secs(i.resolved_at, i.opened_at) for i in resolved]),
            "sla": self._sla(),
            "false_positives": fps,
            "false_positive_rate": _ratio(fps, len(resolved)),
            "playbooks": {
                "executions": done,
                "succeeded": self.actions["succeeded"],
                "failed": self.actions["failed"],
                "success_rate": _ratio(self.actions["succeeded"], done),
            },
            "detections": {
                d: self.decisions.get(d, 0)
                for d in ("opened", "deduplicated", "suppressed", "recovered", "ignored")
            },
        }

    def _sla(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sev, targets in SLA_TARGETS.items():
            mine = [i for i in self.incidents if i.severity == sev]
            breaches = [i.breaches(self.until) for i in mine]
            ok = sum(1 for b in breaches if not b)
            out[sev] = {
                "targets_seconds": {s: getattr(targets, s).total_seconds() for s in STAGES},
                "incidents": len(mine),
                "compliant": ok,
                "compliance": _ratio(ok, len(mine)),
                "breaches": {s: sum(1 for b in breaches if s in b) for s in STAGES},
            }
        return out


def _secs(later: datetime | None, earlier: datetime) -> float:
    assert later is not None
    return (later - earlier).total_seconds()


async def load_summary(
    conn: asyncpg.Connection, schema: str, since: datetime, until: datetime
) -> Summary:
    """Read the window's incident streams, action steps and decisions from the store."""
    rows = await conn.fetch(
        f"SELECT e.stream_id, e.type, e.data FROM {schema}.events e "
        f"WHERE e.stream_id IN (SELECT stream_id FROM {schema}.events WHERE "
        "type = 'IncidentOpened' AND (data->>'at')::timestamptz >= $1 "
        "AND (data->>'at')::timestamptz < $2) "
        "ORDER BY e.stream_id, e.stream_version",
        since,
        until,
    )
    streams: dict[str, list[IncidentEvent]] = {}
    for r in rows:
        streams.setdefault(r["stream_id"], []).append(parse_event(r["type"], r["data"]))
    incidents = [lc for evs in streams.values() if (lc := lifecycle(evs)) is not None]
    action_rows = await conn.fetch(
        f"SELECT data FROM {schema}.events WHERE type = 'ActionRecorded' "
        "AND (data->>'at')::timestamptz >= $1 AND (data->>'at')::timestamptz < $2 "
        "ORDER BY global_position",
        since,
        until,
    )
    actions = action_outcomes(ActionRecorded.model_validate(r["data"]) for r in action_rows)
    decision_rows = await conn.fetch(
        f"SELECT data->>'decision' AS d, count(*) AS n FROM {schema}.events "
        "WHERE type = 'DetectionDecided' AND (data->>'at')::timestamptz >= $1 "
        "AND (data->>'at')::timestamptz < $2 GROUP BY 1",
        since,
        until,
    )
    decisions = {r["d"]: int(r["n"]) for r in decision_rows}
    incidents.sort(key=lambda i: i.id)
    return Summary(since, until, incidents, actions, decisions)


async def opened_totals(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    """Incidents ever opened, by opening severity (a monotonic count: the log only grows)."""
    rows = await conn.fetch(
        f"SELECT data->>'severity' AS s, count(*) AS n FROM {schema}.events "
        "WHERE type = 'IncidentOpened' GROUP BY 1"
    )
    return {r["s"]: int(r["n"]) for r in rows}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def router(
    pool: Callable[[], asyncpg.Pool], schema: str, clock: Callable[[], datetime] = _utcnow
) -> APIRouter:
    """`GET /api/metrics/summary?since=7d` (viewer)."""
    r = APIRouter(prefix="/api/metrics")

    @r.get("/summary")
    async def summary(
        _: Viewer,
        since: str = Query("7d", description="window length, e.g. 7d, 24h, 30m"),
    ) -> dict[str, Any]:
        try:
            window = parse_duration(since)
        except (ValueError, TypeError):
            window = timedelta(0)
        if window <= timedelta(0):
            raise HTTPException(422, f"since must be a duration like 7d or 24h, not {since!r}")
        now = clock()
        async with pool().acquire() as conn:
            return await outcome_totals.summary_json(conn, schema, now - window, now)

    return r


class OutcomeCollector(Collector):
    """Prometheus view of the latest snapshot (refreshed by `refresh`, read on scrape)."""

    def __init__(self, window_label: str = "7d"):
        self.window_label = window_label
        self.opened: dict[str, int] = {}
        self.summary: dict[str, Any] | None = None

    def update(self, opened: dict[str, int], summary: dict[str, Any]) -> None:
        self.opened, self.summary = dict(opened), summary

    def collect(self) -> Iterator[Any]:
        opened = CounterMetricFamily(
            "interventions_incidents_opened", "Incidents opened (from the log)", labels=["severity"]
        )
        for sev, n in sorted(self.opened.items()):
            opened.add_metric([sev], n)
        yield opened
        if self.summary is None:
            return
        yield from _window_gauges(self.summary, self.window_label)


def _window_gauges(s: dict[str, Any], window: str) -> Iterator[GaugeMetricFamily]:
    def gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
        g = GaugeMetricFamily(f"interventions_{name}", doc, labels=["window"])
        if value is not None:
            g.add_metric([window], float(value))
        return g

    yield gauge("mtta_seconds", "Mean time to acknowledge", s["mtta_seconds"])
    yield gauge("mttr_seconds", "Mean time to resolve", s["mttr_seconds"])
    yield gauge("false_positive_ratio", "Resolved as false_positive", s["false_positive_rate"])
    yield gauge("playbook_success_ratio", "Playbook success", s["playbooks"]["success_rate"])
    yield gauge("incidents_per_hour", "Incident rate", s["incidents"]["per_hour"])
    sla = GaugeMetricFamily(
        "interventions_sla_compliance_ratio", "SLA compliance", labels=["window", "severity"]
    )
    for sev, v in s["sla"].items():
        if v["compliance"] is not None:
            sla.add_metric([window, sev], float(v["compliance"]))
    yield sla
    det = GaugeMetricFamily(
        "interventions_detections_decided", "Detection decisions", labels=["window", "decision"]
    )
    for decision, n in s["detections"].items():
        det.add_metric([window, decision], float(n))
    yield det


class OutcomeMetrics:
    """A lifespan hook: registers the collector once and refreshes it from the log."""

    _collector: OutcomeCollector | None = None

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        schema: str,
        spawn: Callable[[Any, str], Any],
        every: timedelta = timedelta(seconds=30),
        window: timedelta = timedelta(days=7),
    ):
        self.pool, self.schema, self.spawn, self.every, self.window = (
            pool,
            schema,
            spawn,
            every,
            window,
        )

    async def start(self) -> None:
        if OutcomeMetrics._collector is None:
            OutcomeMetrics._collector = OutcomeCollector("7d")
            REGISTRY.register(OutcomeMetrics._collector)
        self.spawn(self._loop(), "outcome-metrics")

    async def stop(self) -> None:
        """The runtime cancels the loop."""

    async def refresh(self, now: datetime) -> None:
        async with self.pool().acquire() as conn:
            opened = await opened_totals(conn, self.schema)
            summary = await outcome_totals.summary_json(conn, self.schema, now - self.window, now)
        assert OutcomeMetrics._collector is not None
        OutcomeMetrics._collector.update(opened, summary)

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh(datetime.now(UTC))
            except Exception:  # a database hiccup must not end the loop; retried next tick
                log.exception("outcome metrics refresh failed")
            await asyncio.sleep(self.every.total_seconds())
