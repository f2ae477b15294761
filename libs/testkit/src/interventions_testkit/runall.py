"""`make test`: run each package's test tree in its own pytest process, then print one total.

Each service keeps its tests in `services/<name>/tests` as a package named `tests`, so they
cannot share one pytest process (the module names would collide); one process per tree also
gives each its own broker and event loop. The last line is the plain total
`total: N passed, N failed, N skipped`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    root: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    exit_code: int = 0


def roots(repo: Path) -> list[Path]:
    found = sorted(repo.glob("libs/*/tests")) + sorted(repo.glob("services/*/tests"))
    if (repo / "tests").is_dir():
        found.append(repo / "tests")
    return found


def run(root: Path, repo: Path, extra: list[str], artifacts: Path) -> Result:
    name = str(root.relative_to(repo)).replace("/", "-")
    junit = artifacts / f"junit-{name}.xml"
    started = time.monotonic()
    print(f"\n=== {root.relative_to(repo)} ===", flush=True)
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            str(root.relative_to(repo)),
            f"--junitxml={junit}",
            *extra,
        ],
        cwd=repo,
    )
    result = Result(str(root.relative_to(repo)), seconds=time.monotonic() - started, exit_code=code)
    if junit.exists():
        for suite in ET.parse(junit).getroot().iter("testsuite"):
            tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            result.failed += failed
            result.skipped += skipped
            result.passed += tests - failed - skipped
    if code not in (0, 5) and result.failed == 0:
        result.failed = 1  # the run broke before reporting (collection error, crash)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only", action="append", default=[], help="run only roots containing this"
    )
    args, extra = parser.parse_known_args()
    repo = Path.cwd()
    artifacts = repo / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    selected = [r for r in roots(repo) if not args.only or any(o in str(r) for o in args.only)]
    results = [run(r, repo, extra, artifacts) for r in selected]
    print("\nsummary")
    for r in results:
        print(
            f"  {r.root:<28} {r.passed:>4} passed {r.failed:>3} failed {r.skipped:>3} skipped "
            f"{r.seconds:>7.1f}s"
        )
    total = Result("total")
    for r in results:
        total.passed += r.passed
        total.failed += r.failed
        total.skipped += r.skipped
    print(
        f"total: {total.passed} passed, {total.failed} failed, {total.skipped} skipped", flush=True
    )
    return 1 if total.failed or any(r.exit_code not in (0, 5) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
