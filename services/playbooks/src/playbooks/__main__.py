"""`python -m playbooks`: serve the playbooks service."""

from interventions_platform.env import RuntimeEnv
from interventions_platform.runtime import serve

from .bootstrap import SERVICE, build_app

if __name__ == "__main__":
    serve(build_app(), RuntimeEnv().port_for(SERVICE))
