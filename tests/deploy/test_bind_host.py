"""Containers listen on every interface (INTERVENTIONS_BIND_HOST=0.0.0.0); local runs stay on
loopback. 127.0.0.2 is a loopback address that a 127.0.0.1-only listener does not accept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from interventions_platform.embedded import free_port

APP = (
    "import sys; from fastapi import FastAPI; from interventions_platform.runtime import serve; "
    "app = FastAPI(); app.get('/healthz')(lambda: {'status': 'ok'}); serve(app, int(sys.argv[1]))"
)


@contextmanager
def served(bind_host: str | None) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "INTERVENTIONS_BIND_HOST"}
    if bind_host is not None:
        env["INTERVENTIONS_BIND_HOST"] = bind_host
    proc = subprocess.Popen(
        [sys.executable, "-c", APP, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(proc, port)
        yield port
    finally:
        proc.terminate()
        assert proc.wait(10) == 0, "serve() must exit 0 on SIGTERM"


def wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        if answers("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise TimeoutError("the app never listened on 127.0.0.1")


def answers(host: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_services_listen_on_loopback_only_by_default() -> None:
    with served(None) as port:
        assert answers("127.0.0.1", port)
        assert not answers("127.0.0.2", port)


def test_interventions_bind_host_makes_services_listen_on_every_interface() -> None:
    with served("0.0.0.0") as port:
        assert answers("127.0.0.1", port)
        assert answers("127.0.0.2", port)
