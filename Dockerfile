# syntax=docker/dockerfile:1
# One image for every service; the command picks the service:
#   docker run interventions python -m <incidents|watcher|playbooks|notifier|issue_sync|gateway>
# Targets: `runtime` (default, every service) and `playbooks` (runtime + dbt for rerun_dbt).
# See docs/DEPLOY.md.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: the uv workspace from uv.lock into /app/.venv (no editable installs, so the
# venv is self-contained and the sources need not follow it into the runtime stage)
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_EDITABLE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --python /usr/local/bin/python3.11

# ---- builder-dbt: dbt-core/dbt-postgres are dev dependencies of the root project; install
# just those two, at the versions uv.lock pins, on top of the production venv
FROM builder AS builder-dbt
RUN --mount=type=cache,target=/root/.cache/uv \
    uv export --quiet --frozen --all-packages --all-groups --no-emit-workspace --no-hashes \
        --no-header -o /tmp/constraints.txt \
    && uv pip install --python /app/.venv/bin/python -c /tmp/constraints.txt \
        dbt-core dbt-postgres

# ---- base: what both runtime images share
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INTERVENTIONS_BIND_HOST=0.0.0.0
RUN groupadd --system --gid 10001 interventions \
    && useradd --system --uid 10001 --gid interventions --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin interventions \
    && mkdir -p /etc/interventions
WORKDIR /app
EXPOSE 8000 8001 8002 8003 8004 8005
STOPSIGNAL SIGTERM

# ---- playbooks: the runtime plus dbt (the rerun_dbt playbook runs `dbt` in DBT_PROJECT_DIR)
FROM base AS playbooks
COPY --from=builder-dbt /app/.venv /app/.venv
USER 10001:10001
CMD ["python", "-m", "playbooks"]

# ---- runtime (default target): every service
FROM base AS runtime
COPY --from=builder /app/.venv /app/.venv
USER 10001:10001
CMD ["python", "-m", "gateway"]
