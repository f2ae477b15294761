"""`python -m watcher`: the watcher process on its port (8002 unless overridden)."""

from __future__ import annotations

import sys

from interventions_platform.config import ConfigError
from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import build_app
from .consumers import tune_gc


def main() -> None:
    try:
        app = build_app()
    except ConfigError as exc:
        sys.exit(f"watcher: {exc}")
    tune_gc()
    serve(app, RuntimeEnv().port_for("watcher"))


if __name__ == "__main__":
    main()
