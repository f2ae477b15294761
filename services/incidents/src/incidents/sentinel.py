"""Self-alerts: the platform watching itself and raising `PlatformAlertRaised` detections
(kind `platform`) through its own pipeline (outbox -> `detections` -> dedup and rate limits).

Checks (thresholds in `interventions.self_alerts`): an incident storm, a sev1 past its
acknowledge or mitigate target, a silent watcher (no WatcherHeartbeat), a high playbook
failure rate, dead letters arriving. Safe with several replicas: every replica may raise the
same alert, but its CloudEvent id is derived from (key, time bucket), so the incident
service decides one (a decision is stored under its detection's id), and an active incident
for the key absorbs the rest."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from interventions_events import Envelope, Event, topics
from interventions_events.codec import Decoded
from interventions_events.detections import PlatformAlertRaised, WatcherHeartbeat
from interventions_events.incidents import ActionRecorded
from interventions_eventstore import Outbox
from interventions_platform.config import WatcherSection, section
from interventions_platform.durations import Duration, parse_duration
from interventions_platform.kafka import Record
from interventions_platform.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from .outcomes import Lifecycle, action_outcomes

log = logging.getLogger(__name__)
# the component name of the marks table's migrations (once also a consumer group of its own)
COMPONENT = "incidents-sentinel"
ID_SPACE = uuid.UUID("6f1c58a2-8a53-4d8e-9a55-5b8f3c7e2a10")
MIGRATIONS = [
    """
    CREATE TABLE {schema}.sentinel_marks (
        name text PRIMARY KEY,
        at timestamptz NOT NULL,
        count bigint NOT NULL DEFAULT 0
    );
    """
]


class SelfAlertSettings(BaseModel):
    """`interventions.self_alerts` (defaults from the guide's Monitoring section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    check_interval: Duration = parse_duration("1m")
    realert_after: Duration = parse_duration("1h")
    max_incidents_per_hour: int = Field(default=5, ge=1)
    storm_window: Duration = parse_duration("1h")
    sla_severities: list[str] = Field(default_factory=lambda: ["sev1"])
    heartbeat_timeout: Duration = parse_duration("1h")
    playbook_failure_rate: float = Field(default=0.2, ge=0, le=1)
    playbook_window: Duration = parse_duration("1h")
    playbook_min_executions: int = Field(default=5, ge=1)
    dead_letter_window: Duration = parse_duration("15m")


def load(raw: dict[str, Any]) -> SelfAlertSettings:
    """The section; when the (shared) settings configure the watcher, the heartbeat timeout
    is at least two of its sweeps (one heartbeat per sweep), so a long `watcher.interval`
    cannot raise the alert between two good beats."""
    s = section(SelfAlertSettings, raw, "self_alerts")
    if "watcher" not in raw:
        return s
    sweep = timedelta(seconds=section(WatcherSection, raw, "watcher").effective_interval())
    if s.heartbeat_timeout < 2 * sweep:
        log.warning(
            "self_alerts.heartbeat_timeout %s is under two watcher sweeps; using %s",
            s.heartbeat_timeout,
            2 * sweep,
        )
        s = s.model_copy(update={"heartbeat_timeout": 2 * sweep})
    return s


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    hint: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the checks read, gathered once per tick."""

    now: datetime
    started: datetime  # when this sentinel started: no heartbeat is due before a timeout
    opened_recently: int
    active: list[Lifecycle]
    last_heartbeat: datetime | None
    action_outcomes: dict[str, int]
    dead_letters: tuple[int, datetime | None]


def check(f: Facts, s: SelfAlertSettings) -> list[Alert]:
    """The alerts the facts call for. Pure."""
    out: list[Alert] = []
    if f.opened_recently > s.max_incidents_per_hour:
        out.append(
            Alert(
                "PLATFORM_incident_storm",
                "error",
                f"{f.opened_recently} incidents opened in the last {s.storm_window} "
                f"(more than {s.max_incidents_per_hour})",
                {"opened": f.opened_recently},
            )
        )
    for lc in f.active:
        late = [st for st in lc.breaches(f.now) if st in ("acknowledge", "mitigate")]
        if lc.severity in s.sla_severities and late:
            out.append(
                Alert(
                    f"PLATFORM_sla_incident_{lc.id}",
                    "critical",
                    f"{lc.severity} incident {lc.id} not {_past(late[0])} within its SLA target",
                    {"incident_id": lc.id, "missed": late},
                )
            )
    # counted from our own start at the earliest: after a restart (or a first start beside a
    # watcher that has not swept yet) the watcher gets one full timeout to be heard
    seen = max(f.last_heartbeat or f.started, f.started)
    if f.now - seen > s.heartbeat_timeout:
        out.append(
            Alert(
                "PLATFORM_watcher_heartbeat_missing",
                "critical",
                f"no watcher heartbeat since {seen.isoformat()} (timeout {s.heartbeat_timeout})",
                {"last_heartbeat": f.last_heartbeat and f.last_heartbeat.isoformat()},
            )
        )
    done = f.action_outcomes.get("succeeded", 0) + f.action_outcomes.get("failed", 0)
    failed = f.action_outcomes.get("failed", 0)
    if done >= s.playbook_min_executions and failed / done > s.playbook_failure_rate:
        out.append(
            Alert(
                "PLATFORM_playbook_failure_rate",
                "error",
                f"{failed} of {done} playbook executions failed in the last {s.playbook_window}",
                {"failed": failed, "executions": done},
            )
        )
    count, last = f.dead_letters
    if last is not None and f.now - last <= s.dead_letter_window:
        out.append(
            Alert(
                "PLATFORM_dead_letters",
                "warning",
                f"dead letters are arriving ({count} so far, last at {last.isoformat()})",
                {"dead_letters": count},
            )
        )
    return out


def _past(stage: str) -> str:
    return {"acknowledge": "acknowledged", "mitigate": "mitigated"}.get(stage, stage)


def alert_id(key: str, now: datetime, bucket: timedelta) -> str:
    """Same alert, same time bucket -> same CloudEvent id on every replica."""
    n = int(now.timestamp() // max(bucket.total_seconds(), 1))
    return str(uuid.uuid5(ID_SPACE, f"{key}:{n}"))


class Sentinel:
    """A lifespan hook: runs the checks every `check_interval` and raises alerts."""

    def __init__(
        self,
        runtime: Runtime,
        settings: SelfAlertSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.runtime, self.settings, self.clock = runtime, settings, clock
        self.started: datetime | None = None

    async def start(self) -> None:
        rt = self.runtime
        self.started = self.clock()
        await migrate_marks(rt)
        if self.settings.enabled:
            rt.spawn(self._loop(), "self-alerts")

    async def stop(self) -> None:
        """The runtime cancels the loop."""

    async def _loop(self) -> None:
        while True:
            try:
                raised = await self.tick()
                if raised:
                    log.warning("self-alerts raised: %s", ", ".join(a.key for a in raised))
            except Exception:  # a database hiccup must not end the loop; retried next tick
                log.exception("self-alert check failed")
            await asyncio.sleep(self.settings.check_interval.total_seconds())

    async def tick(self) -> list[Alert]:
        """One round: gather facts, check, publish the alerts through the outbox."""
        rt, s, now = self.runtime, self.settings, self.clock()
        async with rt.db.acquire() as conn, conn.transaction():
            facts = await gather(conn, rt.schema, s, now, self.started or now)
            alerts = check(facts, s)
            messages = []
            for a in alerts:
                data = PlatformAlertRaised(
                    kind="platform",
                    key=a.key,
                    subject="interventions",
                    observed_at=now,
                    source_event_id=f"sentinel:{a.key}",
                    hint=a.hint,
                    evidence={"message": a.message, "source": "sentinel", **a.evidence},
                )
                env: Envelope[Event] = Envelope(
                    data=data,
                    source=rt.pub.source,
                    subject=a.key,
                    id=alert_id(a.key, now, s.realert_after),
                )
                messages.append(rt.pub.message(env, key=a.key))
            await Outbox(rt.schema).add(conn, messages)
        return alerts


async def migrate_marks(rt: Runtime) -> None:
    from interventions_eventstore import migrate

    await migrate(rt.db, rt.schema, MIGRATIONS, component=COMPONENT)
    await rt.db.execute(
        f"INSERT INTO {rt.schema}.sentinel_marks (name, at) VALUES ('started', now()) "
        "ON CONFLICT (name) DO NOTHING"
    )


async def gather(
    conn: asyncpg.Connection,
    schema: str,
    s: SelfAlertSettings,
    now: datetime,
    started: datetime,
) -> Facts:
    marks = {r["name"]: r for r in await conn.fetch(f"SELECT * FROM {schema}.sentinel_marks")}
    opened = await conn.fetchval(
        f"SELECT count(*) FROM {schema}.events WHERE type = 'IncidentOpened' "
        "AND data->>'kind' <> 'platform' AND (data->>'at')::timestamptz > $1",
        now - s.storm_window,
    )
    rows = await conn.fetch(
        f"SELECT id, kind, severity, created_at, acknowledged_at, mitigated_at FROM "
        f"{schema}.incidents WHERE status IN ('open', 'acknowledged', 'mitigated') "
        "AND kind <> 'platform' AND severity = ANY($1)",
        s.sla_severities,
    )
    active = [
        Lifecycle(
            r["id"],
            r["kind"],
            r["severity"],
            r["created_at"],
            r["acknowledged_at"],
            r["mitigated_at"],
        )
        for r in rows
    ]
    actions = await conn.fetch(
        f"SELECT data FROM {schema}.events WHERE type = 'ActionRecorded' "
        "AND (data->>'at')::timestamptz > $1 ORDER BY global_position",
        now - s.playbook_window,
    )
    outcomes = action_outcomes(ActionRecorded.model_validate(r["data"]) for r in actions)
    beat, dlq = marks.get("heartbeat"), marks.get("dlq")
    return Facts(
        now=now,
        started=started,
        opened_recently=int(opened or 0),
        active=active,
        last_heartbeat=beat["at"] if beat else None,
        action_outcomes=dict(outcomes),
        dead_letters=(int(dlq["count"]), dlq["at"]) if dlq else (0, None),
    )


async def observe(
    runtime: Runtime, records: Sequence[Record], good: Sequence[tuple[Record, Decoded]]
) -> None:
    """Note a consumed batch's heartbeats (on `detections`) and dead letters (on `dlq`). The
    incident service's consumer group reads both topics and calls this: a group of its own
    fetched and committed every detection a second time (one more consumer polling the broker)
    to find the few heartbeats among them."""
    dlq_topic = topics.full(topics.DLQ, runtime.prefix)
    dead = [r for r in records if r.topic == dlq_topic]
    beats = sum(1 for _, env in good if isinstance(env.data, WatcherHeartbeat))
    if beats or dead:
        await note(runtime.db, runtime.schema, beats, len(dead), dead_letter_time(dead))


def dead_letter_time(dead: Sequence[Record]) -> datetime | None:
    """When the newest dead letter was written (the record timestamp): a new consumer group
    reading old dead letters from the start must not call them arriving."""
    stamps = [r.timestamp for r in dead if r.timestamp and r.timestamp > 0]
    return datetime.fromtimestamp(max(stamps) / 1000, UTC) if stamps else None


async def note(
    pool: asyncpg.Pool, schema: str, beats: int, dead: int, dead_at: datetime | None = None
) -> None:
    """Remember when we last heard a heartbeat (receive time) and when the newest dead
    letter was written (its record time; receive time when the broker gave none)."""
    for name, n, at in (("heartbeat", beats, None), ("dlq", dead, dead_at)):
        if n:
            await pool.execute(
                f"INSERT INTO {schema}.sentinel_marks (name, at, count) "
                "VALUES ($1, coalesce($3, now()), $2) ON CONFLICT (name) DO UPDATE SET "
                f"at = greatest({schema}.sentinel_marks.at, excluded.at), "
                f"count = {schema}.sentinel_marks.count + $2",
                name,
                n,
                at,
            )
