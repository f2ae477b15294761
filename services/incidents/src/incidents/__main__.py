"""`python -m incidents`: the incident service on its port (8001 unless overridden)."""

from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import build_app

if __name__ == "__main__":
    serve(build_app(), RuntimeEnv().port_for("incidents"))
