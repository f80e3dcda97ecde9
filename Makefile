# Two commands on a fresh machine (only Python 3.11 needed):
#   make demo   - set up, generate sample data, run the daily DAG through Airflow, print a summary
#   make test   - set up and run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck setup clean bench browser

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

# The lineage page is checked in headless Chromium (Debian's package). Installed when missing
# and possible (root with apt); otherwise those two tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
		&& echo "installed chromium for the lineage page tests"; } \
		|| echo "chromium not available: the lineage page screenshot tests will skip"

test: $(STAMP) browser
	$(BIN)/ruff check pipelines dags tests bench
	$(BIN)/ruff format --check pipelines dags tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check pipelines dags tests bench
	$(BIN)/ruff format --check pipelines dags tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.ingest --items 1000000

clean:
	rm -rf .data
