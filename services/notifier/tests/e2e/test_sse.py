"""SSE across two notifier replicas: same events in the same order on both, Last-Event-ID
resumes without a gap, and a client that never reads is dropped without slowing anyone."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from interventions_testkit.processes import ServiceProcess

from .conftest import Bus, Notifiers, opened, wait_for

N = 150
PADDING = "x" * 60_000  # big frames, so a stuck client's socket buffers fill quickly


@dataclass
class Reader:
    """Reads one SSE stream, keeping (id, event, data) frames and arrival times."""

    frames: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    async def read(self, url: str, headers: dict[str, str], stop_after: int | None = None) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30, read=30)) as client,
            client.stream("GET", url + "/api/sse/events", headers=headers) as response,
        ):
            assert response.status_code == 200, await response.aread()
            self.headers = dict(response.headers)
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                self.kinds.append(fields.get("event", ""))
                if "id" in fields:
                    position = int(fields["id"])
                    self.frames.append((position, fields["event"], json.loads(fields["data"])))
                    self.arrivals[position] = time.monotonic()
                    if stop_after is not None and len(self.frames) >= stop_after:
                        return
                fields = {}


def stuck_client(proc: ServiceProcess, token: str) -> socket.socket:
    """Connects, asks for the stream, and never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", proc.port or 0))
    sock.sendall(
        f"GET /api/sse/events?access_token={token} HTTP/1.1\r\nHost: notifier\r\n\r\n".encode()
    )
    return sock


async def _dropped(proc: ServiceProcess) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(proc.url + "/metrics")).text
    lines = [ln for ln in text.splitlines() if ln.startswith("notifier_sse_dropped_total ")]
    return float(lines[0].split()[1]) if lines else 0.0


async def test_two_replicas_stream_the_same_events_in_order_resume_and_drop_a_stuck_client(
    notifiers: Notifiers,
    bus: Bus,
) -> None:
    notifiers.configure(
        notifier={"sse": {"heartbeat": "1s", "client_buffer": 32, "poll_interval": "200ms"}}
    )
    a, b = notifiers.start(count=2)
    auth = {"Authorization": f"Bearer {notifiers.token}"}
    async with httpx.AsyncClient() as client:
        assert (await client.get(a.url + "/api/sse/events")).status_code == 401
    sock = stuck_client(a, notifiers.token)
    one, two = Reader(), Reader()
    task_one = asyncio.create_task(one.read(a.url, auth))
    task_two = asyncio.create_task(two.read(b.url, auth, stop_after=30))
    await asyncio.sleep(1.0)

    published_at = time.monotonic()
    await bus.publish(*(opened(n, "sev4", notes=PADDING) for n in range(1, N + 1)))
    await wait_for(lambda: len(one.frames) >= N, timeout=60, what="client one to get everything")
    await asyncio.wait_for(task_two, 30)
    slowest = max(one.arrivals.values()) - published_at

    resumed = Reader()
    last_seen = two.frames[-1][0]
    await asyncio.wait_for(
        resumed.read(
            b.url, {**auth, "Last-Event-ID": str(last_seen)}, stop_after=N - len(two.frames)
        ),
        30,
    )
    task_one.cancel()
    await asyncio.gather(task_one, return_exceptions=True)
    sock.close()

    ids = [f[0] for f in one.frames]
    assert ids == sorted(ids) and len(set(ids)) == N
    # incidents are keyed by id, so order across incidents is free; every one arrives once
    assert sorted(f[2]["incident_id"] for f in one.frames) == list(range(1, N + 1))
    assert {f[1] for f in one.frames} == {"incident_created"}
    assert two.frames + resumed.frames == one.frames  # replica B: same order, no gap
    assert one.kinds[0] == "connected" and resumed.kinds[0] == "connected"
    assert one.headers["cache-control"] == "no-cache"
    assert one.headers["x-accel-buffering"] == "no"
    assert await _dropped(a) >= 1  # the stuck client was cut off ...
    print(f"reader beside the stuck client got all {N} frames {slowest:.2f}s after publishing")
    assert slowest < 20.0, slowest  # ... and the reader beside it was never held up


async def test_heartbeats_flow_while_idle_and_the_browser_token_parameter_works(
    notifiers: Notifiers,
) -> None:
    (proc,) = notifiers.start()
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "GET", f"{proc.url}/api/sse/events?access_token={notifiers.token}"
        ) as response,
    ):
        assert response.status_code == 200
        kinds = []
        started = time.monotonic()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
            if kinds.count("heartbeat") >= 2:
                break
        assert kinds[:3] == ["connected", "heartbeat", "heartbeat"]
        assert time.monotonic() - started < 5
    async with httpx.AsyncClient() as client:
        bad = await client.get(f"{proc.url}/api/sse/events?access_token=wrong")
        assert bad.status_code == 401 and "detail" in bad.json()
        odd = await client.get(
            f"{proc.url}/api/sse/events",
            headers={"Authorization": f"Bearer {notifiers.token}", "Last-Event-ID": "abc"},
        )
        assert odd.status_code == 400
