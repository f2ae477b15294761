"""`make bench` / `make bench-quick`: measure, print the table, write bench-results.json."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import report
from .run import run
from .sizes import FULL, QUICK, SMOKE, Sizes


def pick(args: argparse.Namespace) -> Sizes:
    if args.smoke or os.environ.get("INTERVENTIONS_BENCH_SMOKE") == "1":
        return SMOKE
    return QUICK if args.quick else FULL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller loads, under 3 minutes")
    parser.add_argument("--smoke", action="store_true", help="tiny loads: checks it all runs")
    parser.add_argument("--out", default="bench-results.json", help="where to write results")
    args = parser.parse_args(argv)
    sizes = pick(args)
    started = time.monotonic()
    results, notes = asyncio.run(run(sizes))
    meta = {
        "mode": sizes.mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cpus, {platform.processor() or platform.machine()}",
        "load_average_at_end": list(os.getloadavg()),
        "infrastructure": notes,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.write(results, Path(args.out))
    report.print_table(results, f"bench ({sizes.mode}, {meta['seconds']} s)", meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
