"""`make run`: the whole system on one machine.

With nothing configured: the embedded broker on 127.0.0.1:9092 and an embedded PostgreSQL
under .interventions/, then every service as its own process, the gateway on
127.0.0.1:8000 last. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL switch to real ones.
Ctrl-C or SIGTERM stops everything in reverse order and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from .auth import new_token
from .embedded import EmbeddedBroker, EmbeddedPostgres, port_open
from .env import SERVICE_PORTS

# (service, module) in start order; the gateway comes last so "ready" means reachable
SERVICES = [
    ("incidents", "incidents"),
    ("watcher", "watcher"),
    ("playbooks", "playbooks"),
    ("notifier", "notifier"),
    ("issue-sync", "issue_sync"),
    ("gateway", "gateway"),
]
VENDORS = [
    ("PAGERDUTY_ROUTING_KEY", "PagerDuty paging"),
    ("SLACK_WEBHOOK_URL", "Slack messages"),
    ("ELASTICSEARCH_URL", "clear_cache / refresh_synonyms"),
    ("DBT_PROJECT_DIR", "rerun_dbt"),
]


def available(module: str) -> bool:
    return importlib.util.find_spec(f"{module}.__main__") is not None


class Stack:
    def __init__(self, state: Path, *, demo: bool = False):
        self.state = state
        self.demo = demo
        self.broker: EmbeddedBroker | None = None
        self.pg: EmbeddedPostgres | None = None
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def infra(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            broker_port = int(os.environ.get("INTERVENTIONS_BROKER_PORT", "9092"))
            if port_open("127.0.0.1", broker_port):
                sys.exit(
                    f"port {broker_port} is taken: stop what uses it, "
                    "or set KAFKA_BOOTSTRAP_SERVERS"
                )
            self.broker = EmbeddedBroker(port=broker_port, log_path=self.state / "broker.log")
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.start()
            say(f"broker      embedded Tansu (memory) on {env['KAFKA_BOOTSTRAP_SERVERS']}")
        else:
            say(f"broker      {os.environ['KAFKA_BOOTSTRAP_SERVERS']}")
        if not os.environ.get("DATABASE_URL"):
            self.pg = EmbeddedPostgres(self.state / "pgdata")
            env["DATABASE_URL"] = self.pg.start()
            # so that `interventions ...` admin commands find this database without settings
            url_file = self.state / "database-url"
            url_file.write_text(env["DATABASE_URL"] + "\n")
            url_file.chmod(0o600)
            say(f"postgresql  embedded, data in {self.state / 'pgdata'}")
        else:
            say("postgresql  DATABASE_URL")
        return env

    def admin_token(self) -> dict[str, str]:
        if os.environ.get("INTERVENTIONS_ADMIN_TOKEN"):
            return {}
        path = self.state / "admin-token"
        if path.exists():
            say(f"admin token in {path}")
            return {"INTERVENTIONS_ADMIN_TOKEN": path.read_text().strip()}
        token = new_token()
        path.write_text(token + "\n")
        path.chmod(0o600)
        say(f"admin token (printed once, saved in {path}):\n\n    {token}\n")
        return {"INTERVENTIONS_ADMIN_TOKEN": token}

    def start_services(self, env: dict[str, str]) -> None:
        for service, module in SERVICES:
            if not available(module):
                continue
            log = open(self.state / f"{service}.log", "ab")  # noqa: SIM115
            port = SERVICES_PORT(env, service)
            proc = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**env, "INTERVENTIONS_SERVICE_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.procs.append((service, proc))
            self.wait_ready(service, proc, port)
            say(f"{service:<11} http://127.0.0.1:{port}  (log {self.state / f'{service}.log'})")

    def wait_ready(self, service: str, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not self.stopping:
            if proc.poll() is not None:
                self.stop()
                tail = (self.state / f"{service}.log").read_text(errors="replace")[-3000:]
                sys.exit(f"{service} exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        if not self.stopping:
            self.stop()
            sys.exit(f"{service} was not ready within 90 s; see .interventions/{service}.log")

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        say("stopping...")
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                say(f"{name} did not drain in 20 s; killing it")
                proc.kill()
                proc.wait()
        if self.broker:
            self.broker.stop()
        if self.pg:
            self.pg.stop()
        say("stopped")


def SERVICES_PORT(env: dict[str, str], service: str) -> int:
    """The gateway's port is INTERVENTIONS_HTTP_PORT; the others are their defaults shifted
    by INTERVENTIONS_PORT_OFFSET (so two stacks, or a test, can run beside each other)."""
    if service == "gateway":
        return int(env.get("INTERVENTIONS_HTTP_PORT", "8000"))
    return SERVICE_PORTS[service] + int(env.get("INTERVENTIONS_PORT_OFFSET", "0"))


def taken_ports(env: dict[str, str]) -> list[str]:
    """The services' ports something already listens on, as `port (service)`."""
    ports = [(SERVICES_PORT(env, s), s) for s, module in SERVICES if available(module)]
    return [f"{port} ({service})" for port, service in ports if port_open("127.0.0.1", port)]


def service_urls(env: dict[str, str]) -> dict[str, str]:
    """INTERVENTIONS_<SERVICE>_URL for every service, as the gateway needs them."""
    return {
        f"INTERVENTIONS_{name.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{SERVICES_PORT(env, name)}"
        for name, _ in SERVICES
        if name != "gateway"
    }


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="also run the demo signal feed")
    parser.add_argument(
        "--state", default=os.environ.get("INTERVENTIONS_STATE_DIR", ".interventions")
    )
    args = parser.parse_args(argv)
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    stack = Stack(state, demo=args.demo)

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stack.stop()
        sys.exit(0)

    taken = taken_ports(dict(os.environ))
    if taken:  # else a service could not bind, and its readiness be answered by the holder
        sys.exit(
            f"port {', '.join(taken)} taken: stop what uses it, or set "
            "INTERVENTIONS_PORT_OFFSET (and INTERVENTIONS_HTTP_PORT for the gateway)"
        )
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = {**os.environ, **stack.infra(), **stack.admin_token()}
    env.pop("INTERVENTIONS_SERVICE_PORT", None)
    env.update(service_urls(env))
    for var, what in VENDORS:
        if not env.get(var):
            say(f"disabled    {what} (set {var} to enable)")
    stack.start_services(env)
    say(f"ready: http://127.0.0.1:{SERVICES_PORT(env, 'gateway')}  (Ctrl-C to stop)")
    if args.demo and available("interventions_demo"):
        demo_log = open(state / "demo.log", "ab")  # noqa: SIM115
        demo = subprocess.Popen(
            [sys.executable, "-m", "interventions_demo"],
            env=env,
            stdout=demo_log,
            stderr=subprocess.STDOUT,
        )
        stack.procs.append(("demo", demo))
        say(f"demo        feeding signals (log {state / 'demo.log'})")
    while True:
        for name, proc in stack.procs:
            if proc.poll() is not None and not stack.stopping and name != "demo":
                say(f"{name} exited with {proc.returncode}; stopping the stack")
                stack.stop()
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
