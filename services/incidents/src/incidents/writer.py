"""One write: events for several streams appended with optimistic concurrency, the read model
projected and the outbox filled, all in the caller's transaction."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from interventions_events import Event
from interventions_events.incidents import IncidentEvent, OccurrenceRecorded
from interventions_eventstore import Append, EventStore, NewEvent, Outbox, OutboxMessage
from interventions_platform import tracing
from interventions_platform.kafka import Publisher

from .commands import RecordOccurrence
from .decisions import Decided, KeyState, evolve_key, new_tuple
from .domain import Incident, decide, evolve, occurred
from .readmodel import ReadModel, incident_stream, key_stream


@dataclass
class _Stream:
    expected: int
    events: list[NewEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Occurrences:
    """An incident's occurrences in this batch so far, not yet recorded: the state before
    them, how many, and the latest detection's facts (the event is built once, when
    written: building and folding one per detection cost ~6 us each)."""

    before: Incident
    count: int = 0
    detection_id: str = ""
    observed_at: datetime | None = None
    rule: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    meta: dict[str, Any] | None = None
    traceparent: str | None = None

    def event(self) -> OccurrenceRecorded:
        assert self.observed_at is not None and self.at is not None
        cmd = RecordOccurrence(
            self.before.id,
            self.detection_id,
            self.observed_at,
            self.rule,
            dict(self.details),
            count=self.count,
        )
        (event,) = decide(cmd, self.before, self.at)
        assert isinstance(event, OccurrenceRecorded)
        return event


def event_ids(n: int = 256) -> Iterator[str]:
    """Random (version 4) UUID strings, drawn from the OS `n` at a time: a quarter of the
    cost of `uuid.uuid4()` each, which the hot path paid twice per detection."""
    while True:
        h = os.urandom(16 * n).hex()
        for i in range(0, 32 * n, 32):
            yield (
                f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
                f"a{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
            )


_IDS = event_ids()


def stored_data(event: Event) -> dict[str, Any]:
    """The event's data as stored, without the published `incident` snapshot: its fields as
    they are, for orjson to write (an incident event holds only JSON values, times and
    tuples; times come out as `+00:00`, as in every DetectionDecided, where pydantic's
    JSON mode wrote `Z`). `model_dump(mode="json")` was 15 % of writing an occurrence."""
    data = dict(event.__dict__)
    data.pop("incident", None)
    return data


@dataclass
class Batch:
    """Collects the effects of one transaction; `commit` writes them all at once."""

    pub: Publisher
    streams: dict[str, _Stream] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)
    messages: list[OutboxMessage] = field(default_factory=list)
    # by incident id: written by the last flush, or before the incident's next event
    occurring: dict[int, _Occurrences] = field(default_factory=dict)
    # read-model rows changed since the last flush (incident ids, keys), and those whose only
    # change is what a deduplicated detection changes (counted: occurrences, last seen and
    # version; bumped: version), written as such unless also changed otherwise
    _changed: set[int] = field(default_factory=set, init=False)
    _changed_keys: set[str] = field(default_factory=set, init=False)
    _counted: set[int] = field(default_factory=set, init=False)
    _bumped_keys: set[str] = field(default_factory=set, init=False)
    # the traceparent when no span is exported: no record span changes it within a batch
    _idle_traceparent: str | None = field(default=None, init=False)
    _idle_traced: bool = field(default=False, init=False)
    # outbox rows written by a flush that did not notify: `commit` wakes the relay
    _queued: bool = field(default=False, init=False)

    def traceparent(self) -> str | None:
        """The current trace context, looked up once per batch unless spans are exported
        (then each record's span is current in turn)."""
        if tracing.exporting():
            return tracing.current_traceparent()
        if not self._idle_traced:
            self._idle_traceparent = tracing.current_traceparent()
            self._idle_traced = True
        return self._idle_traceparent

    def incident(
        self,
        state: Incident | None,
        events: list[IncidentEvent],
        meta: dict[str, Any] | None = None,
    ) -> Incident | None:
        """Apply incident events on top of `state`; returns the new state."""
        if state is not None and state.id in self.occurring:
            self._write_occurrences(state.id)  # they come first on the stream
        traceparent = self.traceparent() if events else None
        for event in events:
            if state is None or state.id not in self.incidents:
                self._stream(incident_stream(event.incident_id), state.version if state else 0)
            state = evolve(state, event)
            self.incidents[state.id] = state
            self._changed.add(state.id)
            self._write(state, event, meta, traceparent)
        return state

    def occurrence(
        self,
        state: Incident,
        detection_id: str,
        observed_at: datetime,
        rule: str,
        details: dict[str, Any],
        at: datetime,
        meta: dict[str, Any] | None = None,
    ) -> Incident:
        """Count one detection on its active incident `state`. The batch's occurrences of an
        incident are one OccurrenceRecorded (`count`, the latest detection's facts), written
        by `write_occurrences` or before the incident's next event: with 1,000 keys and
        4,000 detections per batch that is one incident event, outbox row and published
        record for about four detections, and for a storm on one key one per batch. Returns
        the new state."""
        seen = self.occurring.get(state.id)
        if seen is None:
            if state.id not in self.incidents:
                self._stream(incident_stream(state.id), state.version)
            seen = self.occurring[state.id] = _Occurrences(state)
        seen.count += 1
        seen.detection_id, seen.observed_at, seen.rule = detection_id, observed_at, rule
        seen.details, seen.at, seen.meta = details, at, meta
        seen.traceparent = self.traceparent()
        new = occurred(seen.before, seen.count, at)
        self.incidents[new.id] = new
        self._counted.add(new.id)
        return new

    def decision(
        self,
        state: KeyState,
        event: Decided,
        detection_id: str,
        meta: dict[str, Any] | None = None,
    ) -> KeyState:
        """Record a key decision (stored only, never published) under its detection's id:
        the store keeps event ids unique, so a detection is decided once. Returns the new
        key state."""
        if state.key not in self.keys:
            self._stream(key_stream(state.key), state.version)
        new = evolve_key(state, event)
        self.keys[state.key] = new
        if state.version == 0 or new.opened is not state.opened:
            self._changed_keys.add(state.key)
        else:  # its row exists, or is written whole by this flush: only the version moved
            self._bumped_keys.add(state.key)
        # stored only: no envelope, no trace context, no `incident` field to leave out; its
        # fields are JSON-ready (the evidence came from JSON), so orjson writes them as they
        # are: ~1.1 us against ~4.5 for the event model's `model_dump_json`, which inspects
        # each evidence value
        data = orjson.dumps(event.__dict__).decode()
        self._record(key_stream(state.key), event, detection_id, meta, data)
        return new

    def publish(self, event: Event, key: str) -> None:
        """Publish an event that belongs to no stream (e.g. DetectionSuppressed)."""
        self.messages.append(self.pub.message(self.pub.envelope(event, subject=key), key=key))

    def add_messages(self, messages: list[OutboxMessage]) -> None:
        self.messages.extend(messages)

    async def flush(
        self,
        conn: asyncpg.Connection,
        store: EventStore,
        rm: ReadModel,
        outbox: Outbox,
        *,
        last: bool = False,
    ) -> None:
        """Write the events, messages and read-model rows collected so far
        (ConcurrencyError if a stream moved), in the caller's transaction; the next ones
        continue the same streams, and a row changed again is written again (a batch of
        detections changes each key's rows in one run: see `service._by_key`). The `last`
        flush of a transaction wakes the relay with its outbox rows, if it has any (else
        `commit` notifies for the earlier flushes')."""
        if last:
            self.write_occurrences()
        appends = []
        for sid, s in self.streams.items():
            if s.events:
                appends.append(Append(sid, s.expected, s.events))
                s.expected += len(s.events)
                s.events = []
        incidents = [self.incidents[i] for i in self._changed]
        counted = [self.incidents[i] for i in self._counted - self._changed]
        keys = [self.keys[k] for k in self._changed_keys]
        bumped = [self.keys[k] for k in self._bumped_keys - self._changed_keys]
        self._changed, self._changed_keys = set(), set()
        self._counted, self._bumped_keys = set(), set()
        messages, self.messages = self.messages, []
        await store.append_many(
            appends, conn=conn, returning=False, outbox=outbox, messages=messages, notify=last
        )
        if last and messages:
            self._queued = False  # that notify wakes the relay for the whole transaction
        else:
            self._queued |= bool(messages)
        if incidents:
            await rm.save(conn, incidents)
        if counted:
            await rm.save_counts(conn, counted)
        if keys:
            await rm.save_keys(conn, keys)
        if bumped:
            await rm.save_key_versions(conn, bumped)

    async def commit(
        self, conn: asyncpg.Connection, store: EventStore, rm: ReadModel, outbox: Outbox
    ) -> None:
        """Append (ConcurrencyError if any stream moved), project, queue for publishing."""
        await self.flush(conn, store, rm, outbox, last=True)
        if self._queued:
            await outbox.notify(conn)

    def write_occurrences(self) -> None:
        """Queue the occurrences counted so far for the next flush."""
        for iid in list(self.occurring):
            self._write_occurrences(iid)

    def _write_occurrences(self, incident_id: int) -> None:
        seen = self.occurring.pop(incident_id)
        self._write(self.incidents[incident_id], seen.event(), seen.meta, seen.traceparent)

    def _write(
        self,
        state: Incident,
        event: IncidentEvent,
        meta: dict[str, Any] | None,
        traceparent: str | None,
    ) -> None:
        """Store `event` (which made `state`) and queue its record for publishing."""
        # one dump serves the store and, with the snapshot added, the published record
        data = stored_data(event)
        event_id = next(_IDS)
        self._record(incident_stream(state.id), event, event_id, meta, data)
        published = {**data, "incident": state.snapshot()}  # `data` is stored as it is
        message = self.pub.stored(
            event,
            published,
            event_id=event_id,
            time=datetime.now(UTC),
            subject=str(state.id),
            traceparent=traceparent,
        )
        self.messages.append(message)

    def _stream(self, stream_id: str, expected: int) -> None:
        self.streams.setdefault(stream_id, _Stream(expected))

    def _record(
        self,
        stream_id: str,
        event: Event | Decided,
        event_id: str,
        meta: dict[str, Any] | None,
        data: dict[str, Any] | str,
    ) -> None:
        new = new_tuple(  # every field given (see decisions.new_tuple)
            NewEvent, (event.type_name, data, event_id, event.schema_version, meta or {}, None)
        )
        self.streams[stream_id].events.append(new)
