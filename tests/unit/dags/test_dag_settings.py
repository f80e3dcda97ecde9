"""Configuration, not code: commerce_daily's tables come from the contracts directory setting,
its start date, schedule and catch-up from settings; an interval before the start date fails
by name (the decision is tested here, `airflow dags test` in tests/integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
import yaml

from pipelines.cli import main
from pipelines.contract_docs import EXAMPLE_FILE
from pipelines.schedule import IntervalBeforeStartError, check_interval_start
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.tasks import check_interval
from pipelines.taskscope import task_scope
from pipelines.warehouse.sources import render_sources

PROBE = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    parsed = []
    for env in json.loads(sys.argv[2]):  # one interpreter (Airflow's import is slow), N parses
        os.environ.update(env)
        spec = importlib.util.spec_from_file_location("commerce_daily", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.DAG
        parsed.append({
            "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
            "start_date": dag.start_date.isoformat(),
            "catchup": dag.catchup,
            "schedule": dag.timetable.expression,
            "check_interval_start": dag.get_task("check_interval").start_date.isoformat(),
        })
        for name in env:
            del os.environ[name]
    print(json.dumps(parsed))
    """
)
CONFIGURED = {
    "PIPELINES_CONTRACTS_DIR": str(EXAMPLE_FILE.parent),
    "PIPELINES_DAG_START_DATE": "2010-12-01",
    "PIPELINES_DAG_SCHEDULE": "0 6 * * *",
}
CATCHING_UP = {"PIPELINES_DAG_CATCHUP": "true", "PIPELINES_DAG_START_DATE": "2017-01-01"}


@pytest.fixture(scope="module")
def parsed() -> list[dict]:
    """commerce_daily parsed under CONFIGURED, then under CATCHING_UP."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINES_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(PROJECT_DIR / "dags" / "commerce_daily.py"),
            json.dumps([CONFIGURED, CATCHING_UP]),
        ],
        env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_dag_reads_the_contracts_directory_and_schedule_settings(parsed):
    dag = parsed[0]
    tasks = dag["tasks"]
    assert {t for t in tasks if t.startswith(("ingest_", "check_interval"))} == {
        "check_interval",
        "ingest_invoice_lines",
    }
    assert tasks["ingest_invoice_lines"] == []
    # a leaf: when it fails, the run fails, even if no other task instance exists
    assert tasks["check_interval"] == [] and not any("check_interval" in u for u in tasks.values())
    assert tasks["quality_invoice_lines"] == ["ingest_invoice_lines"]
    assert dag["start_date"] == "2010-12-01T00:00:00+00:00"
    assert dag["schedule"] == "0 6 * * *"
    assert dag["catchup"] is False
    # without catch-up the check runs for any date, so a run before the start fails by name
    assert dag["check_interval_start"] == "1970-01-01T00:00:00+00:00"


def test_with_catch_up_every_task_starts_at_the_start_date(parsed):
    """The scheduler catches up from the earliest task start date: none may be earlier."""
    dag = parsed[1]
    assert "ingest_orders" in dag["tasks"]  # the repo's contracts again
    assert dag["catchup"] is True
    assert dag["check_interval_start"] == dag["start_date"] == "2017-01-01T00:00:00+00:00"


def test_the_start_date_and_schedule_come_from_settings_files(tmp_path):
    toml = tmp_path / "pipelines.toml"
    toml.write_text('dag_start_date = 2010-12-01\ndag_schedule = "0 6 * * *"\ndag_catchup = true\n')
    settings = Settings(settings_file=toml)
    assert str(settings.dag_start_date) == "2010-12-01"
    assert (settings.dag_schedule, settings.dag_catchup) == ("0 6 * * *", True)
    default = Settings()
    assert str(default.dag_start_date) == "2016-09-01" and default.dag_catchup is False


START = datetime(2010, 12, 2, tzinfo=UTC)
END = datetime(2010, 12, 3, tzinfo=UTC)


def test_an_interval_before_the_start_date_is_a_named_error(settings):
    with pytest.raises(IntervalBeforeStartError) as raised:
        check_interval_start(START, END, settings)
    message = str(raised.value)
    assert "[2010-12-02T00:00:00+00:00, 2010-12-03T00:00:00+00:00)" in message
    assert "before the configured start date 2016-09-01" in message
    assert "PIPELINES_DAG_START_DATE): set it to 2010-12-02 or earlier" in message
    early = settings.model_copy(update={"dag_start_date": START.date()})
    check_interval_start(START, END, early)  # on the start date: fine
    check_interval_start(START.replace(tzinfo=None), END, early)  # naive means UTC


def test_the_first_task_fails_without_retry_naming_the_error(settings, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException  # not at collection: ~1.5 CPU s

    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    with pytest.raises(AirflowFailException, match="before the configured start date") as raised:
        check_interval(START, END, "manual__2010-12-03")
    assert isinstance(raised.value.__cause__, IntervalBeforeStartError)
    monkeypatch.setenv("PIPELINES_DAG_START_DATE", "2010-12-01")
    assert check_interval(START, END, "manual__2010-12-03")["start_date"] == "2010-12-01"


def test_every_task_scope_refuses_an_interval_before_the_start(settings):
    from airflow.sdk.exceptions import AirflowFailException

    ran = []
    refused = pytest.raises(AirflowFailException, match="before the configured start date")
    with refused, task_scope("ingest_orders", START, END, "r1", settings):
        ran.append(True)
    assert ran == []


def test_cli_ingest_refuses_an_interval_before_the_start(settings, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    code = main(["ingest", "--all", "--start", "2010-12-02", "--end", "2010-12-03"])
    assert code == 1
    assert "before the configured start date 2016-09-01" in capsys.readouterr().err


def test_dbt_sources_follow_the_contracts_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(EXAMPLE_FILE.parent))
    from pipelines.contracts import load_contracts

    sources = yaml.safe_load(render_sources(load_contracts(Settings().contracts_dir)))
    tables = {t["name"]: t for t in sources["sources"][0]["tables"]}
    assert set(tables) == {"partitions", "invoice_lines"}
    row_key = next(c for c in tables["invoice_lines"]["columns"] if c["name"] == "_row_key")
    assert row_key["data_tests"] == ["not_null", "unique"]
