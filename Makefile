# Two commands on a fresh machine (only Python 3.11 needed):
#   make demo   - set up, generate sample data, run the daily DAG through Airflow, print a summary
#   make test   - set up and run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
BYTECODE := $(VENV)/.bytecode
SITE := $(VENV)/lib/python3.11/site-packages
# mypy's cache, kept per user (not per checkout): most of a cold run (~45 CPU s) analyses the
# installed libraries, which every clone and worktree shares; mypy re-checks each cached
# module's hash, so a stale entry is re-analysed, never trusted. `make typecheck
# MYPY_CACHE=.mypy_cache` keeps it in the checkout.
MYPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pipelines/mypy

.PHONY: demo test checks unit-then-integration test-unit test-integration test-stack project-bytecode lint typecheck setup clean bench browser

$(UV):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 ($(PYTHON)) is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(STAMP): $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --python $(BIN)/python --quiet
	@touch $(STAMP)

# Bytecode for every installed module, once per install: with PYTHONDONTWRITEBYTECODE set (as
# on the project machines) Python otherwise compiles Airflow, GX and dbt from source in every
# process: every CLI command, Airflow task and dbt child (great_expectations alone 5 s).
# The packages' own test suites (a fifth of the files) are never imported: not compiled.
$(BYTECODE): $(STAMP)
	$(BIN)/python -m compileall -q -j 0 -x '/tests/' $(SITE) >/dev/null || true
	@touch $(BYTECODE)

# The project's own modules change often: recompiled (only what changed) before each run.
project-bytecode: $(BYTECODE)
	@$(BIN)/python -m compileall -q pipelines dags >/dev/null || true

setup: $(STAMP) $(BYTECODE)

demo: $(STAMP) project-bytecode
	$(BIN)/pipelines demo

# The lineage page, the portal and the audit report (and its PDF, read back with poppler's
# pdftotext) are checked in headless Chromium (Debian's packages). Installed when missing and
# possible (root with apt); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get install -y --no-install-recommends chromium poppler-utils >/dev/null 2>&1 \
		&& echo "installed chromium and poppler-utils for the browser tests"; } \
		|| echo "chromium or pdftotext not available: the browser tests that need them will skip"

# Three tiers (`make test` runs them all; a unit failure stops it before the integration tier):
#   unit         everything not marked integration (pytest-xdist, one test file per worker;
#                modules marked `first` start first, the rest in collection order)
#   integration  real Airflow (`airflow dags test`) and dbt builds; the modules marked
#                `first` (DAG runs, minute-long dbt builds) start first, not the ones with
#                most tests, so both xdist workers end on short modules
#   stack        Airflow on PostgreSQL with Celery workers and Redis (one module, one process)
# `make test` runs three jobs side by side (a job's output is printed when it ends: make
# --output-sync): ruff and mypy; the stack tier; the unit tier, then (if it passed) the
# integration tier. Alone, each leaves a core idle part of the time (mypy is one process, a
# unit worker waits on a session build another worker started, the stack on its services
# and queue); side by side they keep both cores busy (BENCHMARKS.md, CI). The stack test's
# waits poll with deadlines made for a loaded machine. A failed job fails `make test` once
# the others end.
# A tier that selects no test (pytest exit code 5, e.g. with PYTEST_ARGS="-k ...") says so and
# passes, except the unit tier, which is never empty.
# Each tier collects only the files that can hold its tests (tests/tiers.py), unless
# PYTEST_ARGS names paths of its own (a word starting with tests/).
PYTEST_ARGS ?=
define tier
	@echo "== $(1) tier: pytest -m \"$(2)\""
	@$(BIN)/pytest $(3) -m "$(2)" $(if $(filter tests/%,$(PYTEST_ARGS)),,$$($(BIN)/python -m tests.tiers $(5))) $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ] && [ "$(4)" = "may-be-empty" ]; then echo "$(1) tier: no test selected"; \
	else exit $$code; fi
endef

test: $(STAMP) project-bytecode browser
	@$(MAKE) --no-print-directory -j4 --output-sync=target checks test-stack unit-then-integration

checks: lint typecheck

# The integration tier only after the unit tier passed (a unit failure is the quick answer).
unit-then-integration:
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration

test-unit: $(STAMP) project-bytecode
	$(call tier,unit,not integration,-n auto --dist loadfile --no-loadscope-reorder,never-empty,unit)

test-integration: $(STAMP) project-bytecode browser
	$(call tier,integration,integration and not stack,-n auto --dist loadfile --no-loadscope-reorder,may-be-empty,integration)

test-stack: $(STAMP) project-bytecode
	$(call tier,stack,stack,-p no:xdist,may-be-empty,stack)

lint: $(STAMP)
	$(BIN)/ruff check pipelines dags tests bench
	$(BIN)/ruff format --check pipelines dags tests bench

# mypy (one process: ~45 CPU s cold, ~8 with its cache from another checkout) runs at the
# lowest priority: beside the test tiers in `make test` it takes the CPU they leave idle.
typecheck: $(STAMP)
	nice -n 19 $(BIN)/mypy --cache-dir "$(MYPY_CACHE)"

bench: $(STAMP)
	$(BIN)/python -m bench.ingest --items 1000000

clean:
	rm -rf .data
