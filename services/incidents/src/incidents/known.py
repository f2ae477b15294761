"""Key states and active incidents as this process last committed or read them, used again
only where PostgreSQL still holds the same versions when a batch starts.

A batch of detections needs, for each of its keys, the key's state (`keys` row) and its
active incident (`incidents` row). Read whole and turned into objects, those rows cost the
bench's decisions phase (1,000 keys in each 2,000-detection batch) 5.8-6.9 us of wall time
a decision; read as four numbers per key (the key's version, its active incident's id and
version), with the objects taken from what this process remembers where they match,
1.6-1.7 us. Whole rows are read only for the keys that moved (another writer, an API
command, a timer) or that it does not remember; a key with nothing stored needs no read.

A version names one committed state: streams only grow, and each row is written in the
transaction that appends the events it folds. So a remembered object whose versions match
is the row as it is now, and a batch decides on exactly what it would have read. Writes are
checked by the streams' versions as before (optimistic concurrency), so nothing here can
make a wrong write; a stale entry only costs a read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter

from .decisions import KeyState
from .domain import Incident
from .readmodel import ReadModel

# keys remembered; the least recently decided are forgotten first. Two full batches (see
# consumers.MAX_BATCH): a key seen in one batch is usually seen again in the next.
CAPACITY = 4000
FOUND = Counter(
    "interventions_incident_keys_total",
    "Keys a detection batch started from: remembered (versions matched), new (nothing "
    "stored) or read (rows read whole)",
    ["how"],
)
REMEMBERED, NEW, READ = (FOUND.labels(how) for how in ("remembered", "new", "read"))


@dataclass(frozen=True, slots=True)
class Known:
    """What a batch starts from for one key."""

    state: KeyState
    active: Incident | None


class KnownKeys:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._by_key: dict[str, Known] = {}

    async def load(
        self, conn: asyncpg.Connection, rm: ReadModel, keys: Sequence[str]
    ) -> tuple[dict[str, Known], list[int]]:
        """The state of every key in `keys` as committed now (in `conn`'s transaction), and
        the incident ids drawn for the keys with nothing stored (see `ReadModel.versions`)."""
        out: dict[str, Known] = {}
        drawn: list[int] = []
        states: list[str] = []
        incidents: list[str] = []
        new = 0
        for key, (version, incident, incident_version, new_id) in (
            await rm.versions(conn, keys)
        ).items():
            held = self._by_key.get(key)
            if held is not None and _matches(held, version, incident, incident_version):
                out[key] = held
            elif version == 0 and incident is None:  # nothing stored for the key yet
                out[key] = Known(KeyState(key), None)
                new += 1
            else:
                if version:
                    states.append(key)
                if incident is not None:
                    incidents.append(key)
            if new_id is not None:
                drawn.append(new_id)
        REMEMBERED.inc(len(out) - new)
        NEW.inc(new)
        if states or incidents:
            read = await rm.keys(conn, states) if states else {}
            active = await rm.active_by_key(conn, incidents) if incidents else {}
            moved = {*states, *incidents}
            for key in moved:
                out[key] = Known(read.get(key) or KeyState(key), active.get(key))
            READ.inc(len(moved))
        return out, drawn

    def remember(self, known: Mapping[str, Known]) -> None:
        """After a commit: the states it left (the most recent last, so kept longest)."""
        by_key = self._by_key
        for key, value in known.items():
            by_key.pop(key, None)
            by_key[key] = value
        while len(by_key) > self.capacity:
            del by_key[next(iter(by_key))]

    def __len__(self) -> int:
        return len(self._by_key)


def _matches(held: Known, version: int, incident: int | None, incident_version: int | None) -> bool:
    if held.state.version != version:
        return False
    if held.active is None:
        return incident is None
    return held.active.id == incident and held.active.version == incident_version
