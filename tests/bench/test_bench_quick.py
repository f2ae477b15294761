"""`make bench-quick` as a smoke run: it completes and writes every pinned key as a number."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from interventions_bench.report import KEYS

pytestmark = pytest.mark.timeout(120)


def test_the_quick_bench_writes_every_key_as_a_finite_number(tmp_path: Path) -> None:
    out = tmp_path / "bench-results.json"
    run = subprocess.run(
        [sys.executable, "-m", "interventions_bench", "--quick", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert sorted(results) == sorted(KEYS)
    for key, value in results.items():
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        assert math.isfinite(value) and value > 0, (key, value)
    assert "NOT MET" in run.stdout or "every goal met" in run.stdout
