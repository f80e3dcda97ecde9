"""The training DAG run by real Airflow (SQLite metadata) on a lake with published feature
releases, triggered by the feature asset event: ``airflow dags test commerce_daily`` publishes
one more day (its asset events carry each table's version and gate status, and queue the
unpaused training DAG), one loop of the real scheduler (``airflow scheduler -n 1``) creates the
asset-triggered run with the events it consumed, and ``airflow tasks test`` runs its task in
that run (``airflow dags test`` always makes a new *manual* run, and a scheduler's executor
needs an API server; the default pool has no slot, so the scheduler only creates and schedules
the run). The task trains on the release the event names, writes the model card, and its
lineage validates and traces the model back to the landing files."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet
from pipelines.demo import airflow_env, run_airflow
from pipelines.features.snapshots import read_release
from pipelines.lake.partitions import partitions
from pipelines.lineage import client, naming
from pipelines.protection import create_keyring
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb
from tests.integration.airflow_state import task_states
from tests.unit.models.training_lake import HORIZON_DAYS, LAST, MIDDLE, build

pytestmark = [pytest.mark.integration, pytest.mark.first(85)]  # DAG runs: started first
DAG_ID = "train_repeat_purchase"
RUNS = [sys.executable, "-m", "pipelines.airflow_runs"]
DAILY = "2018-01-14"  # commerce_daily's interval [2018-01-13, 2018-01-14): features as of 01-14


@pytest.fixture
def lake(tmp_path: Path, contracts: ContractSet, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
        monkeypatch.delenv(var, raising=False)
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    # two releases, not the unit tests' three: the DAG's release as of 01-14 trains on the
    # features as of MIDDLE (the latest on or before 01-14 less the horizon) with labels from
    # [MIDDLE, LAST); a release as of EARLY is read by nothing here, and its interval of
    # ingestion, checks and dbt build cost 18 CPU s of the module's 111 (load 7-10)
    keyring = create_keyring(tmp_path / "keyring.json")
    settings = build(tmp_path, contracts, keyring, releases=(MIDDLE, LAST))
    client.reset_clients()
    return settings


def _run(
    settings: Settings, tmp_path: Path, airflow_db: InstallAirflowDb
) -> tuple[int, Path, dict[str, str]]:
    extra = {
        "PIPELINES_KEY_FILE": str(tmp_path / "keyring.json"),
        # the training DAG must be unpaused when the asset event arrives to be queued
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }  # the OpenLineage provider's events go to the event log too (airflow_env)
    env = airflow_env(settings, extra)
    log = tmp_path / "airflow.log"
    airflow_db(env)  # migrated once per session (with the warehouse pool)
    commands = [
        ["dags", "test", "commerce_daily", DAILY],  # its tasks' outcome: asserted by the test
        ["pools", "set", "default_pool", "0", "no executor slot: tasks test runs the task"],
        ["dags", "pause", "commerce_daily"],
        ["scheduler", "--num-runs", "1", "--skip-serve-logs"],
    ]  # in one Airflow process (pipelines.airflow_runs --commands), one after the other
    code = run_airflow(["--commands", json.dumps(commands)], env, log, False, program=RUNS)
    assert code == 0, log.read_text()[-4000:]
    run_id = _asset_triggered_run(env)
    params = ["--task-params", f'{{"horizon_days": {HORIZON_DAYS}}}']
    code = run_airflow(
        ["tasks", "test", DAG_ID, "train_model", run_id, *params], env, log, show_tasks=False
    )
    return code, log, env


def _asset_triggered_run(env: dict[str, str]) -> str:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        runs = con.execute(
            "SELECT run_id, run_type FROM dag_run WHERE dag_id = ?", [DAG_ID]
        ).fetchall()
    assert [t for _, t in runs] == ["asset_triggered"], runs
    return str(runs[0][0])


def _consumed(env: dict[str, str], run_id: str) -> dict[str, dict]:
    """The asset events the scheduler attached to the training run (``triggering_asset_events``)."""
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        rows = con.execute(
            "SELECT a.name, e.extra FROM dagrun_asset_event x"
            " JOIN dag_run r ON r.id = x.dag_run_id JOIN asset_event e ON e.id = x.event_id"
            " JOIN asset a ON a.id = e.asset_id WHERE r.dag_id = ? AND r.run_id = ?",
            [DAG_ID, run_id],
        ).fetchall()
    return {name: json.loads(extra) for name, extra in rows}


def _asset_events(env: dict[str, str]) -> dict[str, dict]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        rows = con.execute(
            "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
        ).fetchall()
    return {name: json.loads(extra) for name, extra in rows}


def _task_jobs(events: list[dict], dag_id: str) -> set[str]:
    """The task jobs of ``dag_id`` that ran in Airflow (children of a DAG run)."""
    return {
        e["job"]["name"]
        for e in events
        if e["job"]["name"].startswith(f"{dag_id}.")
        and e["job"]["name"].count(".") == 1
        and "parent" in e["run"]["facets"]
    }


def test_airflow_trains_the_model_and_its_lineage_reaches_the_landing_files(
    lake: Settings, tmp_path: Path, airflow_db: InstallAirflowDb
):
    from pipelines.reporting.graph import load_graph
    from pipelines.reporting.modeltrace import trace_model
    from pipelines.reporting.store import open_store
    from tests.integration.dag_run_lineage import assert_one_dag_run
    from tests.unit.lineage.ol_schema import validate_events

    code, log, env = _run(lake, tmp_path, airflow_db)
    assert code == 0, log.read_text()[-4000:]
    assert task_states(env, DAG_ID) == {"train_model": "success"}
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        [(run_id,)] = con.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", [DAG_ID])
    published = read_release(lake, date.fromisoformat(DAILY))
    assert published.status == "published"
    consumed = _consumed(env, run_id)
    assert consumed["features.customer_features"]["release_id"] == published.release_id
    events_by_asset = _asset_events(env)
    customer = events_by_asset["features.customer_features"]
    assert customer["release_id"] == published.release_id and customer["gate"] == "published"
    assert customer["dataset_version"] == published.features["customer_features"]["sha256"]
    assert customer["rows"] == published.features["customer_features"]["rows"] > 0
    (orders,) = [p for p in partitions(lake.lake, "orders") if p.folder.name == "dt=2018-01-13"]
    assert events_by_asset["lake.orders"]["dataset_version"] == orders.manifest.dataset_version
    assert events_by_asset["lake.orders"]["gate"] == "passed"

    # one DAG run each, every task once per event type, from the OpenLineage provider, with our
    # datasets and facets: the training run's START came from the scheduler's listener (it ran
    # no further: `tasks test` ends no DAG run); commerce_daily's from `dags test`
    events = client.read_events(lake)
    validate_events(events)
    by_job = assert_one_dag_run(events, DAG_ID, {"train_model"}, completed=False)
    complete = next(
        e for e in by_job[naming.task_job("train_model", DAG_ID)] if e["eventType"] == "COMPLETE"
    )
    assert {"pipelines_training", "pipelines_airflow"} <= set(complete["run"]["facets"])
    assert "pipelines_model" in complete["outputs"][0]["facets"]
    versions = {
        (d.get("facets") or {}).get("datasetVersion", {}).get("datasetVersion")
        for d in complete["inputs"]
    }
    (used,) = complete["run"]["facets"]["pipelines_training"]["features"]
    trained_on = read_release(lake, date.fromisoformat(used["as_of"]))  # labels need a horizon
    assert trained_on.features["customer_features"]["sha256"] in versions
    daily_tasks = {n.split(".", 1)[1] for n in _task_jobs(events, "commerce_daily")}
    assert_one_dag_run(events, "commerce_daily", daily_tasks)
    version = complete["outputs"][0]["facets"]["datasetVersion"]["datasetVersion"]
    folder = lake.data_dir / "models" / "repeat_purchase" / f"version={version}"
    assert (folder / "card.md").is_file() and (folder / "model.pkl").is_file()
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["parameters"]["label_release"] == published.release_id

    with open_store(lake) as con:
        graph = load_graph(con)
    result = trace_model(graph, "model:repeat_purchase")
    listed = {
        str((lake.landing / entry.path).absolute())
        for table in ("orders", "customers")
        for p in partitions(lake.lake, table)
        for entry in p.manifest.source_files
    }
    assert listed <= set(result.landing_files)
