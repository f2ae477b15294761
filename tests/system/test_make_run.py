"""`make run` (the README's run command) starts the whole system on embedded defaults, stays
up, and on SIGINT/SIGTERM stops everything with exit code 0 and leaves no orphan process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest
from interventions_platform.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, target: str = "run") -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "INTERVENTIONS_ADMIN_TOKEN")
    }
    env.update(
        {
            "INTERVENTIONS_STATE_DIR": str(tmp_path / "state"),
            "INTERVENTIONS_BROKER_PORT": str(free_port()),
            "INTERVENTIONS_HTTP_PORT": str(free_port()),
            "INTERVENTIONS_PORT_OFFSET": str(20000 + os.getpid() % 1000 * 10),
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


@pytest.mark.slow
def test_make_run_starts_every_service_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc, env = _start(tmp_path)
    tree: list[psutil.Process] = []
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
        # Ctrl-C as a supervisor sends it: to the runner (GNU make itself always reports a
        # signal it received as 130, whatever its child did, so signal the child make runs)
        runner = [
            p for p in psutil.Process(proc.pid).children() if "devstack" in " ".join(p.cmdline())
        ]
        for p in runner or [psutil.Process(proc.pid)]:
            p.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0
    time.sleep(0.5)
    alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphans left: {[p.cmdline() for p in alive]}"


def _stop(proc: subprocess.Popen[str]) -> int:
    runner = [p for p in psutil.Process(proc.pid).children() if "devstack" in " ".join(p.cmdline())]
    for p in runner or [psutil.Process(proc.pid)]:
        p.send_signal(signal.SIGINT)
    return proc.wait(60)


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
