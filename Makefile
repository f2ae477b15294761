# Interventions: `make run` starts the whole system, `make test` runs the tests.
# Both install everything they need into .venv first (Python >= 3.11 is the only prerequisite).

PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install run demo test test-fast lint fmt typecheck bench bench-quick chaos browser clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.installed: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --all-packages --frozen --quiet
	touch $@

install: $(VENV)/.installed  ## install the whole workspace into .venv

run: install  ## the whole system on embedded defaults (gateway on 127.0.0.1:8000)
	$(PY) -m interventions_platform.devstack

demo: install  ## `make run` plus the demo signal feed
	$(PY) -m interventions_platform.devstack --demo

test: install  ## every test (unit, integration, e2e) against a real broker and PostgreSQL
	$(PY) -m interventions_testkit.runall $(PYTEST_ARGS)

test-fast: install  ## unit tests only
	$(PY) -m pytest -m "not slow and not browser" libs/events $(PYTEST_ARGS)

lint: install  ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(wildcard libs/*/src) $(wildcard services/*/src)
	$(VENV)/bin/mypy tests

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

browser:  ## Debian's Chromium for the console tests (never a downloaded browser)
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

bench: install
	$(PY) -m interventions_bench

bench-quick: install
	$(PY) -m interventions_bench --quick

chaos: install  ## the full fault-injection suite (the CI subset runs in make test)
	INTERVENTIONS_CHAOS_FULL=1 $(PY) -m pytest tests/chaos -p no:randomly -q -rfE $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools .interventions .pytest_cache .mypy_cache .ruff_cache
