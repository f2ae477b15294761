"""`python -m interventions_bench.instructions`: the incident service's batch path decides real
batches against PostgreSQL, timed (`--plain`) or counted by callgrind."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(240)


def run(*args: str) -> str:
    cmd = [sys.executable, "-m", "interventions_bench.instructions", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_plain_mode_prints_the_cpu_time_per_decision() -> None:
    found = re.search(
        r"([\d.]+) us of CPU per decision \(2000 decisions\)", run("--plain", "--batches", "1")
    )
    assert found is not None and 1 < float(found.group(1)) < 10_000


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_callgrind_counts_a_plausible_number_of_instructions_per_decision() -> None:
    found = re.search(r"([\d,]+) instructions per decision", run("--batches", "1"))
    assert found is not None
    assert 20_000 < int(found.group(1).replace(",", "")) < 5_000_000


def test_watcher_mode_prints_the_cpu_time_per_signal() -> None:
    found = re.search(
        r"([\d.]+) us of CPU per signal \(2500 signals\)",
        run("--watcher", "--plain", "--batches", "1"),
    )
    assert found is not None and 1 < float(found.group(1)) < 10_000
