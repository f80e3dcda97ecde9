# Two commands on a fresh machine (only Python 3.11 needed):
#   make demo   - set up, generate sample data, run the daily DAG through Airflow, print a summary
#   make test   - set up and run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck setup clean bench

$(UV):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 ($(PYTHON)) is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(STAMP): $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --inexact --python $(BIN)/python --quiet
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/pipelines demo

test: $(STAMP)
	$(BIN)/ruff check pipelines dags tests bench
	$(BIN)/ruff format --check pipelines dags tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pipelines dags tests bench
	$(BIN)/ruff format --check pipelines dags tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.ingest --items 1000000

clean:
	rm -rf .data
