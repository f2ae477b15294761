"""`python -m gateway`: the one origin on INTERVENTIONS_HTTP_PORT (default 8000)."""

from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import build_app

if __name__ == "__main__":
    serve(build_app(), RuntimeEnv().port_for("gateway"))
