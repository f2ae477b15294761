"""The whole stack as real processes: end-to-end latency, SSE fan-out, the incident list
through the gateway with many incidents stored, and memory at idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import orjson
import psutil
from aiokafka import AIOKafkaProducer

from . import api, bulk, load
from .infra import Infra, start_all, stop_all
from .sizes import Sizes
from .sse import close_clients, open_clients
from .stats import percentile

log = logging.getLogger(__name__)
SERVICES = ["incidents", "watcher", "playbooks", "notifier", "gateway"]
Results = dict[str, float]


class Arrivals:
    """When each incident key first showed up on an SSE stream, per client."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.changed = asyncio.Event()

    def __call__(self, key: str, at: float) -> None:
        self.first.setdefault(key, at)
        self.last[key] = at
        self.count[key] = self.count.get(key, 0) + 1
        self.changed.set()

    async def until(self, done: Callable[[], bool], within: float) -> bool:
        """Wait until `done()` holds (True) or `within` seconds pass (False)."""
        deadline = time.monotonic() + within
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True


class ListPoller:
    """Polls `GET /api/incidents?status=open` through the gateway, newest first, and records
    when each incident key first appears in an answer: "visible through the API". A scan
    follows the cursor until a page holds a key seen before, so a burst larger than a page
    is not missed. The time recorded is when the answer was read, an upper bound that
    includes up to one poll interval plus one request. Every 10 ms, not faster, and pages of
    10 (250 signals/s put ~4 new incidents in a poll interval): a 50-incident page cost the
    incident service, the gateway, PostgreSQL and this poller ~2.5 ms of CPU on the cores the
    pipeline runs on, so polling harder or wider would slow what it measures."""

    def __init__(self, base: str, token: str, every_s: float = 0.01, limit: int = 10):
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.head = (
            f"host: {url.netloc}\r\nauthorization: Bearer {token}\r\n"
            "accept: application/json\r\n\r\n"
        )
        self.path = f"/api/incidents?status=open&limit={limit}"
        self.every_s = every_s
        self.first: dict[str, float] = {}
        self.requests: list[float] = []  # ms per list request
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        try:
            while not self._stop.is_set():
                await self.scan(reader, writer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.every_s)
        finally:
            writer.close()

    async def scan(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Newest pages until one holds a key already seen (or the list ends)."""
        cursor: str | None = None
        while True:
            path = self.path if cursor is None else f"{self.path}&cursor={cursor}"
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\n{self.head}".encode())
            status, body = await api._response(reader)
            at = time.perf_counter()
            self.requests.append((at - started) * 1000)
            if status != 200:
                raise RuntimeError(f"incident list answered {status}: {body[:200]!r}")
            page = orjson.loads(body)
            old = False
            for item in page["items"]:
                key = str(item["key"])
                if key in self.first:
                    old = True
                else:
                    self.first[key] = at
            cursor = page["next_cursor"]
            if old or cursor is None:
                return

    async def until(self, keys: Iterable[str], within: float) -> list[str]:
        """Wait up to `within` seconds for every key; the ones never seen."""
        deadline = time.monotonic() + within
        while missing := [k for k in keys if k not in self.first]:
            if time.monotonic() > deadline:
                return missing
            await asyncio.sleep(0.05)
        return []


async def stack_phase(inf: Infra, sizes: Sizes) -> Results:
    prefix = await inf.prefix()
    dsn = await inf.database()
    procs = inf.processes(SERVICES, dsn, prefix)
    gateway = procs["gateway"].url
    producer = await load.started_producer(inf.bootstrap)
    try:
        await start_all(procs)
        out: Results = {}
        arrivals = Arrivals()
        clients = await open_clients(gateway + "/api/sse/events", inf.token, 1, arrivals)
        poller = ListPoller(gateway, inf.token)
        poller.start()
        try:
            await _warm_up(producer, prefix, arrivals)
            out.update(await e2e(producer, prefix, sizes, poller, arrivals))
        finally:
            await poller.stop()
            await close_clients(clients)
        out["sse_fanout_p99_ms"] = await fanout(
            producer, prefix, procs["notifier"].url, inf.token, sizes
        )
        started = time.monotonic()
        await bulk.store_incidents(dsn, sizes.incidents)
        log.warning("stored %d incidents in %.1f s", sizes.incidents, time.monotonic() - started)
        out.update(await api.list_load(gateway, inf.token, sizes.api_clients, sizes.api_seconds))
        await asyncio.sleep(2)  # idle
        out["rss_mb_max"] = max(
            psutil.Process(p.proc.pid).memory_info().rss / 2**20
            for p in procs.values()
            if p.proc is not None
        )
        return out
    finally:
        await producer.stop()
        stop_all(procs)


async def _send(producer: AIOKafkaProducer, prefix: str, key: str, i: int = 0) -> None:
    """Signal `i` (its agent, and so its partition, varies with `i` as in real traffic: the
    embedded broker's cost per request grows with a partition's length, so one agent sending
    everything measured the broker's scans more than the pipeline)."""
    doc = load.eval_signal(i, failing=True, invariant=key)
    agent = doc["data"]["agent"]
    await producer.send(load.signal_topic(prefix), orjson.dumps(doc), key=agent.encode())


async def _wait(arrivals: Arrivals, key: str, within: float, count: int = 1) -> float:
    if not await arrivals.until(lambda: arrivals.count.get(key, 0) >= count, within):
        raise TimeoutError(f"incident {key} reached {arrivals.count.get(key, 0)} of {count}")
    return arrivals.last[key]


async def _warm_up(producer: AIOKafkaProducer, prefix: str, arrivals: Arrivals) -> None:
    """One incident end to end, so every consumer group has joined before timing starts."""
    inv = f"warm_{uuid.uuid4().hex[:8]}"
    await _send(producer, prefix, inv)
    await _wait(arrivals, f"INV_{inv}", 90)


async def e2e(
    producer: AIOKafkaProducer, prefix: str, sizes: Sizes, poller: ListPoller, sse: Arrivals
) -> Results:
    """Open loop: signal i is due at start + i / rate and its latency counts from then, so a
    stalled system is charged for every signal it held up (no coordinated omission). Latency
    = first seen in the incident list through the gateway (`poller`); the `incident_created`
    SSE frame through the gateway (one notifier hop later) is logged beside it."""
    n = int(sizes.e2e_rate * sizes.e2e_seconds)
    due: dict[str, float] = {}
    start = time.perf_counter() + 0.05
    for i in range(n):
        at = start + i / sizes.e2e_rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        inv = f"e2e_{uuid.uuid4().hex[:12]}"
        due[f"INV_{inv}"] = at
        await _send(producer, prefix, inv, i)
    await producer.flush()
    missing = await poller.until(due, 60)
    if missing:
        raise TimeoutError(f"{len(missing)} of {n} end-to-end incidents never listed")
    lat = [(poller.first[k] - at) * 1000 for k, at in due.items()]
    await sse.until(lambda: all(k in sse.first for k in due), 10)
    frames = [(sse.first[k] - at) * 1000 for k, at in due.items() if k in sse.first]
    log.warning(
        "e2e %d signals at %.0f/s: listed p50/p99 %.0f/%.0f ms (list request p50 %.1f ms, "
        "%d requests); SSE frame p50/p99 %.0f/%.0f ms (%d of %d)",
        n,
        sizes.e2e_rate,
        percentile(lat, 50),
        percentile(lat, 99),
        percentile(poller.requests, 50),
        len(poller.requests),
        percentile(frames, 50) if frames else float("nan"),
        percentile(frames, 99) if frames else float("nan"),
        len(frames),
        n,
    )
    return {"e2e_p50_ms": percentile(lat, 50), "e2e_p99_ms": percentile(lat, 99)}


async def fanout(
    producer: AIOKafkaProducer, prefix: str, notifier: str, token: str, sizes: Sizes
) -> float:
    """p99 over events of the time from publishing a signal to the last of the SSE clients
    receiving its incident_created frame."""
    arrivals = Arrivals()
    clients = await open_clients(notifier + "/api/sse/events", token, sizes.sse_clients, arrivals)
    try:
        samples = []
        for _ in range(sizes.sse_events):
            inv = f"fan_{uuid.uuid4().hex[:12]}"
            sent = time.perf_counter()
            await _send(producer, prefix, inv)
            await producer.flush()
            last = await _wait(arrivals, f"INV_{inv}", 30, sizes.sse_clients)
            samples.append((last - sent) * 1000)
            await asyncio.sleep(0.2)
        return percentile(samples, 99)
    finally:
        await close_clients(clients)
