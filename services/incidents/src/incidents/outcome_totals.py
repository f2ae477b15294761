"""The outcome summary aggregated inside PostgreSQL: the same numbers as `outcomes.Summary`
(first acknowledgement/mitigation/resolution per incident, SLA breaches against `until`), but
the service receives a dozen rows instead of parsing every incident event of the window.
That read used to block the serving event loop for seconds with 100,000 incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from . import outcomes as o

# one row per (severity, kind) of the window's incidents; severity = the latest change
_GROUPS = """
WITH opened AS (
    SELECT stream_id, data->>'kind' AS kind, data->>'severity' AS sev0,
           (data->>'at')::timestamptz AS opened_at
    FROM {s}.events
    WHERE type = 'IncidentOpened'
      AND (data->>'at')::timestamptz >= $1 AND (data->>'at')::timestamptz < $2
), steps AS (
    SELECT o.stream_id, min(o.kind) AS kind, min(o.sev0) AS sev0, min(o.opened_at) AS opened_at,
        (array_agg(e.data->>'to_severity' ORDER BY e.stream_version DESC)
            FILTER (WHERE e.type = 'SeverityChanged'))[1] AS sev,
        (array_agg((e.data->>'at')::timestamptz ORDER BY e.stream_version)
            FILTER (WHERE e.type = 'IncidentAcknowledged'))[1] AS ack,
        (array_agg((e.data->>'at')::timestamptz ORDER BY e.stream_version)
            FILTER (WHERE e.type = 'IncidentMitigated'))[1] AS mit,
        (array_agg((e.data->>'at')::timestamptz ORDER BY e.stream_version)
            FILTER (WHERE e.type = 'IncidentResolved'))[1] AS res,
        (array_agg(e.data->>'resolution' ORDER BY e.stream_version DESC)
            FILTER (WHERE e.type = 'IncidentResolved'))[1] AS resolution
    FROM opened o LEFT JOIN {s}.events e ON e.stream_id = o.stream_id AND e.type IN
        ('SeverityChanged', 'IncidentAcknowledged', 'IncidentMitigated', 'IncidentResolved')
    GROUP BY o.stream_id
), lc AS (
    SELECT kind, coalesce(sev, sev0) AS severity, opened_at, ack, res, resolution,
           least(ack, mit, res) AS r_ack, least(mit, res) AS r_mit, res AS r_res
    FROM steps
), judged AS (
    SELECT lc.*, t.sev IS NOT NULL AS has_targets,
        coalesce(coalesce(r_ack, $3) > opened_at + make_interval(secs => t.ack_s), false) AS b_ack,
        coalesce(coalesce(r_mit, $3) > opened_at + make_interval(secs => t.mit_s), false) AS b_mit,
        coalesce(coalesce(r_res, $3) > opened_at + make_interval(secs => t.res_s), false) AS b_res
    FROM lc LEFT JOIN unnest($4::text[], $5::float8[], $6::float8[], $7::float8[])
        AS t(sev, ack_s, mit_s, res_s) ON t.sev = lc.severity
)
SELECT severity, kind, count(*) AS n,
    count(ack) AS acked, coalesce(sum(extract(epoch FROM ack - opened_at)), 0) AS ack_s,
    count(res) AS resolved, coalesce(sum(extract(epoch FROM res - opened_at)), 0) AS res_s,
    count(*) FILTER (WHERE res IS NOT NULL AND resolution = 'false_positive') AS fps,
    count(*) FILTER (WHERE NOT (b_ack OR b_mit OR b_res)) AS compliant,
    count(*) FILTER (WHERE b_ack) AS b_ack, count(*) FILTER (WHERE b_mit) AS b_mit,
    count(*) FILTER (WHERE b_res) AS b_res
FROM judged GROUP BY severity, kind
"""

# the final outcome (last succeeded/failed step) of each execution recorded in the window
_ACTIONS = """
SELECT step, count(*) AS n FROM (
    SELECT DISTINCT ON (data->>'execution_id') data->>'step' AS step FROM {s}.events
    WHERE type = 'ActionRecorded' AND data->>'step' IN ('succeeded', 'failed')
      AND (data->>'at')::timestamptz >= $1 AND (data->>'at')::timestamptz < $2
    ORDER BY data->>'execution_id', global_position DESC
) last GROUP BY step
"""

_DECISIONS = """
SELECT data->>'decision' AS d, count(*) AS n FROM {s}.events
WHERE type = 'DetectionDecided' AND (data->>'at')::timestamptz >= $1
  AND (data->>'at')::timestamptz < $2 GROUP BY 1
"""


async def summary_json(
    conn: asyncpg.Connection, schema: str, since: datetime, until: datetime
) -> dict[str, Any]:
    """`Summary.to_json()` for the window, aggregated by PostgreSQL."""
    sevs = list(o.SLA_TARGETS)
    secs = {st: [getattr(o.SLA_TARGETS[v], st).total_seconds() for v in sevs] for st in o.STAGES}
    groups = await conn.fetch(
        _GROUPS.format(s=schema),
        since,
        until,
        until,
        sevs,
        secs["acknowledge"],
        secs["mitigate"],
        secs["resolve"],
    )
    actions = {
        r["step"]: int(r["n"]) for r in await conn.fetch(_ACTIONS.format(s=schema), since, until)
    }
    decisions = {
        r["d"]: int(r["n"]) for r in await conn.fetch(_DECISIONS.format(s=schema), since, until)
    }
    return _to_json(since, until, groups, actions, decisions)


def _total(rows: list[asyncpg.Record], column: str) -> Any:
    return sum(r[column] for r in rows)


def _to_json(
    since: datetime,
    until: datetime,
    groups: list[asyncpg.Record],
    actions: dict[str, int],
    decisions: dict[str, int],
) -> dict[str, Any]:
    hours = max((until - since).total_seconds() / 3600, 1e-9)
    opened, acked, resolved = (_total(groups, c) for c in ("n", "acked", "resolved"))
    fps = _total(groups, "fps")
    ok, failed = actions.get("succeeded", 0), actions.get("failed", 0)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "incidents": {
            "opened": opened,
            "per_hour": round(opened / hours, 4),
            "per_day": round(opened / hours * 24, 4),
            "by_severity": _counts(groups, "severity"),
            "by_kind": _counts(groups, "kind"),
            "acknowledged": acked,
            "resolved": resolved,
        },
        "mtta_seconds": round(float(_total(groups, "ack_s")) / acked, 3) if acked else None,
        "mttr_seconds": round(float(_total(groups, "res_s")) / resolved, 3) if resolved else None,
        "sla": {
            sev: _sla(sev, [g for g in groups if g["severity"] == sev]) for sev in o.SLA_TARGETS
        },
        "false_positives": fps,
        "false_positive_rate": o._ratio(fps, resolved),
        "playbooks": {
            "executions": ok + failed,
            "succeeded": ok,
            "failed": failed,
            "success_rate": o._ratio(ok, ok + failed),
        },
        "detections": {
            d: decisions.get(d, 0)
            for d in ("opened", "deduplicated", "suppressed", "recovered", "ignored")
        },
    }


def _counts(groups: list[asyncpg.Record], column: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in groups:
        out[g[column]] = out.get(g[column], 0) + g["n"]
    return dict(sorted(out.items()))


def _sla(sev: str, mine: list[asyncpg.Record]) -> dict[str, Any]:
    targets = o.SLA_TARGETS[sev]
    n, ok = _total(mine, "n"), _total(mine, "compliant")
    return {
        "targets_seconds": {s: getattr(targets, s).total_seconds() for s in o.STAGES},
        "incidents": n,
        "compliant": ok,
        "compliance": o._ratio(ok, n),
        "breaches": {
            "acknowledge": _total(mine, "b_ack"),
            "mitigate": _total(mine, "b_mit"),
            "resolve": _total(mine, "b_res"),
        },
    }
