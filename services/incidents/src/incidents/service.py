"""Writes: detections -> decisions, lifecycle commands, other services' facts. The only code
that appends to the incident store (reads are in queries.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from interventions_events import topics
from interventions_events.codec import Decoded
from interventions_events.detections import DETECTION_TYPES, DetectionData, SignalRecovered
from interventions_events.incidents import DetectionSuppressed
from interventions_eventstore import (
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
    Inbox,
    Outbox,
    OutboxMessage,
)
from interventions_platform import tracing
from interventions_platform.kafka import Publisher

from . import commands as c
from .decisions import Detection, KeyState, decide_detection, needs_new_id, new_tuple
from .domain import DomainError, Incident, NotFound, decide
from .known import Known, KnownKeys
from .policy import Facts, assess
from .readmodel import ReadModel
from .settings import IncidentsSettings
from .writer import Batch

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]


class StaleVersion(DomainError):
    """The request's `version` is not the incident's current version."""


class KeyConflict(ConcurrencyError):
    """Another writer made a different incident of the same key active first (the
    one-active-per-key index): run again from the fresh state."""

    def __init__(self, detail: str):
        Exception.__init__(self, f"another incident of the key became active first: {detail}")
        self.stream_id, self.expected_version = "incidents_one_active_per_key", -1


ONE_ACTIVE_PER_KEY = "incidents_one_active_per_key"
# detections decided per write while the next ones are decided (see `_decide_all`); each
# write is two to six statements, so a smaller step pays more round trips, but the batch's last
# step is written while nothing else runs: 250 took the bench's decisions from 8,900-9,200
# to 9,100-9,900/s against 500 (three interleaved pairs, quiet machine)
FLUSH_EVERY = 250
# the write in flight sends its next statement only when the deciding loop yields: a write is
# up to six statements, and at 50 decisions per yield (~3 ms) the loop then waited 13-15 us
# per decision for it at the next step; at 10, 2-5 us, for a sleep(0) of ~2 us every 10
YIELD_EVERY = 10
# decide-again rounds for a batch holding detections stored meanwhile (each round reads which)
REDELIVERY_ROUNDS = 5


class IncidentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pub: Publisher,
        settings: IncidentsSettings,
        *,
        schema: str = "incidents",
        clock: Clock = lambda: datetime.now(UTC),
    ):
        self.pool, self.pub, self.settings, self.clock = pool, pub, settings, clock
        self.store = EventStore(pool, schema)
        self.rm = ReadModel(schema)
        self.outbox = Outbox(schema)
        self.known = KnownKeys()
        self.schema = schema

    async def handle_detections(
        self, envs: Sequence[Decoded], dead: Sequence[OutboxMessage] = ()
    ) -> None:
        """Decide a batch of detections in one transaction, each once: a decision is stored
        under its detection's id, which the store keeps unique, so a redelivered detection
        fails the append (DuplicateEventError) and the batch is decided again without the
        ids found stored. (An inbox row per detection, claimed first, cost ~9 us of
        PostgreSQL per decision for what the event id already says.)"""
        todo = [e for e in _first_of_each(envs) if type(e.data) in DETECTION_TYPES]
        stored: set[str] = set()

        async def attempt(conn: asyncpg.Connection) -> dict[str, Known]:
            batch = Batch(self.pub)
            batch.add_messages(list(dead))
            fresh = [e for e in todo if e.id not in stored]
            left = await self._decide_all(conn, batch, fresh) if fresh else {}
            await batch.commit(conn, self.store, self.rm, self.outbox)
            return left

        for _ in range(REDELIVERY_ROUNDS):
            try:
                self.known.remember(await self._retrying(attempt))  # committed
                return
            except DuplicateEventError:  # another writer may store more meanwhile: again
                stored = await self.store.stored_ids([e.id for e in todo])
        raise AssertionError(f"detections still found stored after {REDELIVERY_ROUNDS} rounds")

    async def record_external(
        self,
        items: Sequence[tuple[str, c.Command | None]],
        dead: Sequence[OutboxMessage],
        consumer: str,
    ) -> None:
        """Put other services' facts on incident timelines (inbox by event id)."""
        inbox = Inbox(self.schema, consumer)

        async def attempt(conn: asyncpg.Connection) -> None:
            fresh = await inbox.claim(conn, [eid for eid, _ in items])
            todo = []
            for eid, cmd in items:  # a redelivery can share a batch with the original
                if eid in fresh and cmd is not None:
                    fresh.discard(eid)
                    todo.append(cmd)
            batch = Batch(self.pub)
            batch.add_messages(list(dead))
            known = await self.rm.get(conn, [cmd.incident_id for cmd in todo])
            for cmd in todo:
                state = batch.incidents.get(cmd.incident_id) or known.get(cmd.incident_id)
                try:
                    batch.incident(state, decide(cmd, state, self.clock()))
                except (NotFound, DomainError) as exc:
                    log.warning("%s from %s not recorded: %s", type(cmd).__name__, consumer, exc)
            await batch.commit(conn, self.store, self.rm, self.outbox)

        await self._retrying(attempt)

    async def execute(self, cmd: c.Command, expected_version: int | None = None) -> Incident:
        """Run one lifecycle command; a stale `expected_version` or a lost race with it is
        StaleVersion; without it, a lost race is retried against the fresh state."""

        async def attempt(conn: asyncpg.Connection) -> Incident:
            state = (await self.rm.get(conn, [cmd.incident_id])).get(cmd.incident_id)
            if state is None:
                raise NotFound(f"incident {cmd.incident_id} does not exist")
            if expected_version is not None and state.version != expected_version:
                raise StaleVersion(
                    f"incident {state.id} is at version {state.version}, not {expected_version}:"
                    " reload it and retry"
                )
            events = decide(cmd, state, self.clock())
            if not events:
                return state
            if isinstance(cmd, c.Reopen):
                await self._refuse_second_active(conn, state)
            batch = Batch(self.pub)
            new = batch.incident(state, events, {"by": getattr(cmd, "by", "system")})
            await batch.commit(conn, self.store, self.rm, self.outbox)
            assert new is not None
            return new

        if expected_version is None:
            return await self._retrying(attempt)
        try:
            return await self._once(attempt)
        except KeyConflict:  # this incident's version did not move: decide again, fresh
            return await self._retrying(attempt)
        except ConcurrencyError:
            raise StaleVersion(
                f"incident {cmd.incident_id} changed while your request ran (version "
                f"{expected_version} is gone): reload it and retry"
            ) from None

    async def close_verified(self) -> int:
        """Close resolved incidents whose verification period has passed; returns how many."""
        period = self.settings.verification_period
        due = await self.pool.fetch(
            f"SELECT id FROM {self.schema}.incidents WHERE status = 'resolved' "
            "AND resolved_at <= $1 ORDER BY resolved_at LIMIT 200",
            self.clock() - period,
        )
        closed = 0
        for row in due:
            note = (
                f"closed automatically: resolved and not reopened for the verification "
                f"period ({period})"
            )
            cmd = c.Close(row["id"], "system", notes=note, reason="verification_period")
            try:
                await self.execute(cmd)
                closed += 1
            except DomainError as exc:  # reopened meanwhile: nothing to close
                log.info("auto-close of %s skipped: %s", row["id"], exc)
        return closed

    async def _decide_all(
        self,
        conn: asyncpg.Connection,
        batch: Batch,
        envs: Sequence[Decoded],
    ) -> dict[str, Known]:
        """Decide each key's detections together, in order (`_by_key`); every FLUSH_EVERY
        detections the events, messages and read-model rows so far are written while the
        next ones are decided (same transaction and connection, one statement in flight at
        a time), so the Python work overlaps PostgreSQL's. Returns the state each key is
        left in, to be remembered once the transaction commits (see known.py)."""
        groups = _by_key(envs)
        keys = list(groups)
        envs = [e for group in groups.values() for e in group]
        known, drawn = await self.known.load(conn, self.rm, keys)
        active = {k: v.active for k, v in known.items() if v.active is not None}
        lane = _Lane()
        ids = _IdBlock(conn, self.schema, drawn, sum(1 for k in keys if k not in active), lane.idle)
        source = topics.full(topics.DETECTIONS, self.pub.prefix)
        span = f"process {source}"
        last_key = None
        try:
            for n, env in enumerate(envs, start=1):
                assert isinstance(env.data, DetectionData)
                det = _detection(env.id, env.data)
                if det.key != last_key:  # the previous key's occurrences are all counted
                    batch.write_occurrences()
                    last_key = det.key
                ks = batch.keys.get(det.key) or known[det.key].state
                inc = active.get(det.key)
                if inc is not None:
                    inc = batch.incidents.get(inc.id, inc)
                # inside the record's span: the outbox envelopes built now carry its traceparent
                with tracing.record_span(
                    span, env.traceparent, destination=source, message_id=env.id
                ):
                    opened = await self._decide_one(ids, batch, env, env.data, det, ks, inc)
                if opened is not None:
                    active[det.key] = opened
                if n % FLUSH_EVERY == 0 and n < len(envs):
                    await lane.idle()
                    lane.start(batch.flush(conn, self.store, self.rm, self.outbox))
                if n % YIELD_EVERY == 0 and lane.busy:
                    await asyncio.sleep(0)  # let the write send its next statement
            await lane.idle()
        except BaseException:
            await lane.abandon()  # the connection must be free for the rollback
            raise
        return {key: _left(key, batch, known[key], active.get(key)) for key in keys}

    async def _decide_one(
        self,
        ids: _IdBlock,
        batch: Batch,
        env: Decoded,
        data: DetectionData,
        det: Detection,
        ks: KeyState,
        inc: Incident | None,
    ) -> Incident | None:
        now, limits = self.clock(), self.settings.limits
        new_id = None
        if needs_new_id(ks, inc, det, now, limits):
            new_id = await ids.take()
        decided = decide_detection(ks, inc, det, now, limits, new_id)
        meta: dict[str, Any] = {"detection_id": det.detection_id, "rule": decided.rule}
        batch.decision(ks, decided, env.id, meta)
        if decided.decision == "opened" and new_id is not None:
            return batch.incident(
                None,
                decide(_open_cmd(new_id, data, decided.rule, env.id, self.settings), None, now),
                meta,
            )
        if decided.decision == "deduplicated" and inc is not None:
            return batch.occurrence(
                inc, env.id, data.observed_at, decided.rule, data.evidence, now, meta
            )
        if decided.decision == "recovered" and inc is not None:
            return batch.incident(inc, decide(c.ObserveRecovery(inc.id, env.id), inc, now), meta)
        if decided.decision == "suppressed":
            batch.publish(
                DetectionSuppressed(
                    key=det.key,
                    detection_id=env.id,
                    at=now,
                    observed_at=data.observed_at,
                    rule=decided.rule,
                    window_started_at=decided.window_started_at or now,
                    opened_in_window=decided.opened_in_window or 0,
                    limit=decided.limit or limits.max_per_window,
                ),
                key=det.key,
            )
        return None

    async def _refuse_second_active(self, conn: asyncpg.Connection, state: Incident) -> None:
        """Reopening must not make a second active incident for the key."""
        other = (await self.rm.active_by_key(conn, [state.key])).get(state.key)
        if other is not None and other.id != state.id:
            raise DomainError(
                f"incident {other.id} for key {state.key} is {other.status}: work on it "
                f"(or resolve it) instead of reopening incident {state.id}"
            )

    async def _once(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return await fn(conn)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != ONE_ACTIVE_PER_KEY:
                raise
            raise KeyConflict(str(exc.detail or exc)) from exc

    async def _retrying(
        self, fn: Callable[[asyncpg.Connection], Awaitable[T]], attempts: int = 20
    ) -> T:
        """Run `fn` in a transaction, again from scratch when another writer won a stream."""
        for attempt in range(attempts):
            try:
                return await self._once(fn)
            except ConcurrencyError as exc:
                if attempt == attempts - 1:
                    raise
                log.debug("retrying after conflict on %s", exc.stream_id)
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise AssertionError("unreachable")


class _Lane:
    """At most one write in flight on a transaction's connection."""

    def __init__(self) -> None:
        self.task: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, write: Awaitable[None]) -> None:
        self.task = asyncio.ensure_future(write)

    async def idle(self) -> None:
        """Wait for the write in flight (its error is raised here)."""
        task, self.task = self.task, None
        if task is not None:
            await task

    async def abandon(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            with contextlib.suppress(BaseException):
                await task


class _IdBlock:
    """Incident ids for one batch: those the key read drew for keys with nothing stored
    (`drawn`), then more in one round trip on first need (one per other key without an
    active incident: a key that reopens, or opens twice); a round trip per opening made a
    burst of new keys pay one each. `before` frees the connection first (a write may be in
    flight). A drawn id whose key did not open (its detection was suppressed) is left
    unused: sequences have gaps anyway (a rolled-back draw is never given back)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        schema: str,
        drawn: Sequence[int],
        keys_without_active: int,
        before: Callable[[], Awaitable[None]],
    ):
        self.conn, self.schema, self.before = conn, schema, before
        self.ids: deque[int] = deque(sorted(drawn))
        self.expected = keys_without_active - len(drawn)

    async def take(self) -> int:
        if not self.ids:
            await self.before()
            rows = await self.conn.fetch(
                f"SELECT nextval('{self.schema}.incident_ids') AS id FROM generate_series(1, $1)",
                max(self.expected, 1),
            )
            self.ids.extend(sorted(int(r["id"]) for r in rows))
            self.expected = 0  # a key that opens twice in one batch draws one more
        return self.ids.popleft()


def _left(key: str, batch: Batch, before: Known, last: Incident | None) -> Known:
    """A key's state after the batch: its key state, and its incident if still active."""
    incident = batch.incidents.get(last.id, last) if last is not None else None
    return Known(
        batch.keys.get(key, before.state), incident if incident and incident.active else None
    )


def _by_key(envs: Sequence[Decoded]) -> dict[str, list[Decoded]]:
    """The detections of each key, keys in order of first appearance, each key's in their
    order: decided a key at a time, as a key's decisions depend on its own earlier ones only,
    and its occurrences are one event written as soon as its last one is counted."""
    by: dict[str, list[Decoded]] = {}
    for e in envs:
        assert isinstance(e.data, DetectionData)
        by.setdefault(e.data.key, []).append(e)
    return by


def _first_of_each(envs: Sequence[Decoded]) -> list[Decoded]:
    """Each event id once, in order (a redelivery can share a batch with the original)."""
    seen: set[str] = set()
    out: list[Decoded] = []
    for e in envs:
        if e.id not in seen:
            seen.add(e.id)
            out.append(e)
    return out


def _detection(detection_id: str, d: DetectionData) -> Detection:
    return new_tuple(
        Detection,
        (
            detection_id,
            d.type_name,
            d.kind,
            d.key,
            d.subject,
            d.hint,
            d.observed_at,
            type(d) is SignalRecovered,
            d.evidence,  # read only: `decide_detection` copies it into the decision
        ),
    )


def _open_cmd(
    iid: int, d: DetectionData, rule: str, detection_id: str, settings: IncidentsSettings
) -> c.OpenIncident:
    a = assess(Facts(d.kind, d.key, d.subject, d.hint, d.evidence), settings.policy)
    return c.OpenIncident(
        incident_id=iid,
        kind=d.kind,
        key=d.key,
        subject=d.subject,
        severity=a.severity,
        summary=a.summary,
        details=dict(d.evidence),
        playbooks=a.playbooks,
        owner_team=a.owner_team,
        detection_id=detection_id,
        rule=rule,
    )
