"""The whole incident store folded fast, for replays and read-model rebuilds.

Stored events were validated by pydantic when they were written, so a replay decodes each
one's JSON straight into the values the fold uses (ids, statuses, `datetime`s) and applies
them to plain mutable state (a dict per incident, a list per key), frozen into `Incident` /
`KeyState` once at the end. No model instance and no dataclass `replace` per event.

The result equals `evolve(state, parse_event(type, data))` for incident streams and
`evolve_key(state, DetectionDecided.model_validate(data))` for key streams, event for event
(tests/unit/test_replayfold.py checks it over randomized and stored sequences). A change to
`domain._apply` or `decisions.evolve_key` must be made here too; those tests catch a miss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from interventions_eventstore import scan_raw
from pydantic import TypeAdapter

from .decisions import KEEP_OPENED, KeyState
from .domain import Incident, restore

Data = dict[str, Any]
Draft = dict[str, Any]  # an Incident's fields, mutable
# (global_position, stream_id, type, data as JSON text or already decoded), as scan_raw gives
Row = Sequence[Any]
Progress = Callable[[int, int], None]

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_fromiso = datetime.fromisoformat


def _ts(value: Any) -> datetime:
    """A stored timestamp (pydantic writes ISO 8601) as the `datetime` pydantic would give."""
    if type(value) is str:
        try:
            return _fromiso(value)
        except ValueError:
            pass
    return _DATETIME.validate_python(value)  # any other form pydantic accepts


def _opened(data: Data) -> Draft:
    at = _ts(data["at"])
    return {
        "id": data["incident_id"],
        "kind": data["kind"],
        "key": data["key"],
        "subject": data.get("subject", ""),
        "severity": data["severity"],
        "status": "open",
        "summary": data["summary"],
        "details": dict(data.get("details", {})),
        "playbooks": tuple(data.get("playbooks", ())),
        "owner_team": data["owner_team"],
        "created_at": at,
        "last_seen_at": at,
        "issue_url": None,
        "occurrences": 1,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "mitigated_at": None,
        "resolved_at": None,
        "resolution": None,
        "closed_at": None,
        "version": 1,
        "last_transition": "opened",
    }


def _occurrence(s: Draft, data: Data) -> None:
    at = _ts(data["at"])
    s["occurrences"] += data.get("count", 1)
    if at > s["last_seen_at"]:  # max(last_seen_at, at), ties keep the first
        s["last_seen_at"] = at


def _acknowledged(s: Draft, data: Data) -> None:
    s["status"] = s["last_transition"] = "acknowledged"
    s["acknowledged_at"] = _ts(data["at"])
    s["acknowledged_by"] = data.get("by", "system")


def _mitigated(s: Draft, data: Data) -> None:
    s["status"] = s["last_transition"] = "mitigated"
    s["mitigated_at"] = _ts(data["at"])


def _resolved(s: Draft, data: Data) -> None:
    s["status"] = s["last_transition"] = "resolved"
    s["resolved_at"] = _ts(data["at"])
    s["resolution"] = data.get("resolution", "fixed")


def _closed(s: Draft, data: Data) -> None:
    s["status"] = s["last_transition"] = "closed"
    s["closed_at"] = _ts(data["at"])


def _reopened(s: Draft, data: Data) -> None:
    s["status"] = "open"
    s["last_transition"] = "reopened"
    s["acknowledged_at"] = s["acknowledged_by"] = s["mitigated_at"] = None
    s["resolved_at"] = s["resolution"] = None


def _severity(s: Draft, data: Data) -> None:
    s["severity"] = data["to_severity"]


def _issue(s: Draft, data: Data) -> None:
    s["issue_url"] = data["url"]


def _timeline_only(s: Draft, data: Data) -> None:
    pass


# every type in domain.EVENT_TYPES except IncidentOpened (test_replayfold checks the set)
APPLY: dict[str, Callable[[Draft, Data], None]] = {
    "OccurrenceRecorded": _occurrence,
    "IncidentAcknowledged": _acknowledged,
    "IncidentMitigated": _mitigated,
    "IncidentResolved": _resolved,
    "IncidentClosed": _closed,
    "IncidentReopened": _reopened,
    "SeverityChanged": _severity,
    "IssueLinkRecorded": _issue,
    "IncidentEscalated": _timeline_only,
    "NoteAdded": _timeline_only,
    "SignalRecoveryObserved": _timeline_only,
    "ActionRecorded": _timeline_only,
    "NotificationRecorded": _timeline_only,
}


class ReplayFold:
    """Incident and key streams folded from stored events given in global (or any per-stream)
    order. Streams that are neither `incident-*` nor `key-*` are counted and skipped."""

    def __init__(self) -> None:
        self._incidents: dict[str, Draft] = {}
        self._keys: dict[str, list[Any]] = {}  # stream -> [key, version, [(id, at), ...]]
        self.events = 0

    def feed(self, rows: Iterable[Row], decode: Callable[[Any], Data] = orjson.loads) -> int:
        """Decode (orjson; pass `decode=dict` for rows whose data is already a dict) and apply
        each (global_position, stream_id, type, data) row; returns how many."""
        incidents, keys, apply = self._incidents, self._keys, APPLY
        n = 0
        for _, sid, type_name, raw in rows:
            n += 1
            data = decode(raw)
            if sid.startswith("incident-"):
                if type_name == "IncidentOpened":
                    incidents[sid] = _opened(data)
                    continue
                step = apply[type_name]  # KeyError for a type parse_event does not know
                s = incidents.get(sid)
                if s is None:
                    raise ValueError(f"{type_name} before IncidentOpened")
                step(s, data)
                s["version"] += 1
            elif sid.startswith("key-"):
                k = keys.get(sid)
                if k is None:
                    k = keys[sid] = [data["key"], 0, []]
                k[1] += 1
                if data["decision"] == "opened" and data.get("incident_id") is not None:
                    opened = k[2]
                    opened.append((data["incident_id"], _ts(data["at"])))
                    if len(opened) > 2 * KEEP_OPENED:
                        del opened[:-KEEP_OPENED]
        self.events += n
        return n

    def incidents(self) -> dict[str, Incident]:
        """Incident stream id -> its state (equal to folding it with `evolve`)."""
        return {sid: restore(s) for sid, s in self._incidents.items()}

    def keys(self) -> dict[str, KeyState]:
        """Key stream id -> its state (equal to folding it with `evolve_key`)."""
        return {
            sid: KeyState(key, version, tuple(opened[-KEEP_OPENED:]))
            for sid, (key, version, opened) in self._keys.items()
        }


async def fold_store(
    conn: asyncpg.Connection,
    schema: str,
    *,
    page: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ReplayFold:
    """Every event of the store folded (read with `scan_raw`: each page requested while the
    previous one is folded)."""
    fold = ReplayFold()
    async with contextlib.aclosing(scan_raw(conn, schema, page=page)) as pages:
        async for rows in pages:
            fold.feed(rows)
            if progress is not None:
                progress(fold.events)
    return fold


async def fold_all(
    conn: asyncpg.Connection, schema: str, total: int, progress: Progress | None, page: int
) -> tuple[dict[str, Incident], dict[str, KeyState]]:
    """Incident and key states by stream id, for `readmodel.rebuild_read_model`."""
    report = None if progress is None else (lambda done: progress(done, total))
    fold = await fold_store(conn, schema, page=page, progress=report)
    return fold.incidents(), fold.keys()
