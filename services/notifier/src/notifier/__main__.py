"""`python -m notifier`: serve the notifier on its port (8004 unless overridden)."""

from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import build_app

if __name__ == "__main__":
    serve(build_app(), RuntimeEnv().port_for("notifier"))
