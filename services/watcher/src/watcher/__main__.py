"""`python -m watcher`: the watcher process on its port (8002 unless overridden)."""

from __future__ import annotations

import gc
import sys

from interventions_platform.config import ConfigError
from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import build_app

# A batch holds ~25 tracked objects per signal until it is judged; at the default gen-0
# threshold (700) a collection ran every ~25 signals and gen-2 passes re-scanned the ~100,000
# start-up objects: about 5 us of 17 per signal in the decode (docs/watcher.md).
GC_GEN0_THRESHOLD = 20_000


def main() -> None:
    try:
        app = build_app()
    except ConfigError as exc:
        sys.exit(f"watcher: {exc}")
    gc.freeze()  # modules, models and settings live as long as the process: never scan them
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    serve(app, RuntimeEnv().port_for("watcher"))


if __name__ == "__main__":
    main()
