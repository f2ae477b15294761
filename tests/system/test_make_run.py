"""`make run` (the README's run command) starts the whole system on embedded defaults, stays
up, and on SIGINT/SIGTERM stops everything with exit code 0 and leaves no orphan process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from interventions_platform.embedded import port_open
from interventions_platform.env import SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]


BROKER = 9  # the embedded broker's port, past the services' at the same offset


def _free_offset() -> int:
    """A port offset whose ports are all free and below the kernel's ephemeral range (32768+),
    where any client socket, or a port `free_port` handed to another test's service, could take
    one of them between now and the bind."""
    wanted = [*SERVICE_PORTS.values(), SERVICE_PORTS["gateway"] + BROKER]
    for offset in range(10000 + os.getpid() % 100 * 100, 32768 - max(wanted), 10):
        if not any(port_open("127.0.0.1", port + offset, timeout=0.2) for port in wanted):
            return offset
    pytest.fail("no free port offset below 32768")


def _start(
    tmp_path: Path, target: str = "run", offset: int | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    offset = _free_offset() if offset is None else offset
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "INTERVENTIONS_ADMIN_TOKEN")
    }
    env.update(
        {
            "INTERVENTIONS_STATE_DIR": str(tmp_path / "state"),
            "INTERVENTIONS_BROKER_PORT": str(offset + SERVICE_PORTS["gateway"] + BROKER),
            "INTERVENTIONS_HTTP_PORT": str(offset + SERVICE_PORTS["gateway"]),
            "INTERVENTIONS_PORT_OFFSET": str(offset),
        }
    )
    proc = subprocess.Popen(
        ["make", "--no-print-directory", target],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, env


def _read_until_ready(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    assert proc.stdout is not None
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.startswith("ready:"):
            return "".join(out)
    proc.kill()
    pytest.fail("make run never said ready:\n" + "".join(out))


def _stop(proc: subprocess.Popen[str]) -> int:
    """Ctrl-C as a supervisor sends it: to the runner (GNU make itself always reports a signal
    it received as 130, whatever its child did, so signal the child make runs)."""
    try:
        make = psutil.Process(proc.pid)
        runner = [p for p in make.children() if "devstack" in " ".join(p.cmdline())]
        for p in runner or [make]:
            p.send_signal(signal.SIGINT)
    except psutil.NoSuchProcess:
        pass  # make has already gone; its exit code says how
    return proc.wait(60)


def _why(proc: subprocess.Popen[str], tmp_path: Path, output: str) -> str:
    """What make run printed and the end of each service's log, for a failure message."""
    rest: list[str] = []
    if proc.stdout is not None and proc.poll() is not None:
        stdout = proc.stdout  # a service left running may hold it open: wait 5 s at most
        reader = threading.Thread(target=lambda: rest.append(stdout.read()), daemon=True)
        reader.start()
        reader.join(5)
    logs = {
        p.name: p.read_text(errors="replace")[-1500:]
        for p in sorted((tmp_path / "state").glob("*.log"))
    }
    return output + "".join(rest) + "".join(f"\n--- {name}\n{tail}" for name, tail in logs.items())


@pytest.mark.slow
def test_make_run_starts_every_service_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc, env = _start(tmp_path)
    tree: list[psutil.Process] = []
    output = ""
    try:
        output = _read_until_ready(proc)
        assert "admin token (printed once" in output
        token = (tmp_path / "state" / "admin-token").read_text().strip()
        assert token in output  # printed once, saved for later runs
        tree = psutil.Process(proc.pid).children(recursive=True)
        urls = re.findall(r"(http://127\.0\.0\.1:\d+)  \(log", output)
        assert len(urls) == 6, output  # every service, gateway included
        for url in urls:
            assert httpx.get(url + "/readyz", timeout=5).status_code == 200, url
        gateway = httpx.get(f"http://127.0.0.1:{env['INTERVENTIONS_HTTP_PORT']}/readyz", timeout=10)
        assert gateway.status_code == 200
        upstreams = gateway.json()["upstreams"]
        assert set(upstreams) == {"incidents", "watcher", "playbooks", "notifier", "issue-sync"}
        assert all(u["ready"] for u in upstreams.values()), upstreams
        time.sleep(2)  # stays up
        assert proc.poll() is None
    finally:
        if proc.poll() is not None:
            pytest.fail(f"make run exited with {proc.returncode}:\n{_why(proc, tmp_path, output)}")
        code = _stop(proc)
    assert code == 0, _why(proc, tmp_path, output)
    time.sleep(0.5)
    alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphans left: {[p.cmdline() for p in alive]}"


@pytest.mark.slow
def test_make_demo_shows_the_guides_three_scenarios_within_a_minute(tmp_path: Path) -> None:
    proc, env = _start(tmp_path, "demo")
    try:
        _read_until_ready(proc)
        token = (tmp_path / "state" / "admin-token").read_text().strip()
        api = f"http://127.0.0.1:{env['INTERVENTIONS_HTTP_PORT']}/api/incidents"
        want = {
            "INV_data_freshness_inbox": "sev1",
            "BUDGET_inbox.triage_latency_p95": "sev2",
            "PLANNER_REG_v1.2.3-canary": "sev1",
        }
        seen: dict[str, str] = {}
        last = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and seen != want:
            resp = httpx.get(
                api, params={"limit": 100}, timeout=5, headers={"Authorization": f"Bearer {token}"}
            )
            last = f"{resp.status_code} {resp.text[:300]}"
            if resp.status_code == 200:
                seen = {i["key"]: i["severity"] for i in resp.json()["items"] if i["key"] in want}
            time.sleep(1)
        state = tmp_path / "state"
        logs = {p.name: p.read_text(errors="replace")[-600:] for p in sorted(state.glob("*.log"))}
        assert seen == want, f"last answer: {last}\nlogs: {logs}"
    finally:
        assert _stop(proc) == 0


@pytest.mark.slow
def test_make_run_refuses_a_taken_service_port_before_starting_anything(tmp_path: Path) -> None:
    offset = _free_offset()
    port = SERVICE_PORTS["incidents"] + offset
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the last test's TIME_WAIT
        holder.bind(("127.0.0.1", port))
        holder.listen()
        proc, _ = _start(tmp_path, offset=offset)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert f"port {port} (incidents) taken" in out, out
    assert "INTERVENTIONS_PORT_OFFSET" in out
    assert not (tmp_path / "state" / "broker.log").exists(), "nothing starts when a port is taken"
