"""The training DAG run by real Airflow (`airflow dags test`, SQLite metadata) on a lake with
published feature releases, after ``commerce_daily`` published one more day: the daily run's
asset events carry each table's version and gate status, the training run trains on that
release, writes the model card, and its lineage validates and traces the model back to the
landing files."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet
from pipelines.demo import airflow_env, prepare_airflow, run_airflow
from pipelines.features.snapshots import read_release
from pipelines.lake.partitions import partitions
from pipelines.lineage import client, naming
from pipelines.protection import create_keyring
from pipelines.settings import Settings
from tests.unit.models.training_lake import HORIZON_DAYS, build

pytestmark = pytest.mark.integration
DAG_ID = "train_repeat_purchase"
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
    settings = build(tmp_path, contracts, create_keyring(tmp_path / "keyring.json"))
    client.reset_clients()
    return settings


def _run(settings: Settings, tmp_path: Path) -> tuple[int, Path, dict[str, str]]:
    env = airflow_env(settings, {"PIPELINES_KEY_FILE": str(tmp_path / "keyring.json")})
    log = tmp_path / "airflow.log"
    assert prepare_airflow(env, log) == 0, log.read_text()[-3000:]
    daily = run_airflow(["dags", "test", "commerce_daily", DAILY], env, log, show_tasks=False)
    assert daily == 0, log.read_text()[-4000:]
    conf = ["--conf", f'{{"horizon_days": {HORIZON_DAYS}}}']
    code = run_airflow(["dags", "test", DAG_ID, DAILY, *conf], env, log, show_tasks=False)
    return code, log, env


def _asset_events(env: dict[str, str]) -> dict[str, dict]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        rows = con.execute(
            "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
        ).fetchall()
    return {name: json.loads(extra) for name, extra in rows}


def test_airflow_trains_the_model_and_its_lineage_reaches_the_landing_files(
    lake: Settings, tmp_path: Path
):
    from pipelines.reporting.graph import load_graph
    from pipelines.reporting.modeltrace import trace_model
    from pipelines.reporting.store import open_store
    from tests.unit.lineage.ol_schema import validate_events

    code, log, env = _run(lake, tmp_path)
    assert code == 0, log.read_text()[-4000:]
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as con:
        states = dict(
            con.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ?", [DAG_ID]
            ).fetchall()
        )
        [(run_id,)] = con.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", [DAG_ID])
    assert states == {"train_model": "success"}
    published = read_release(lake, date.fromisoformat(DAILY))
    assert published.status == "published"
    events_by_asset = _asset_events(env)
    customer = events_by_asset["features.customer_features"]
    assert customer["release_id"] == published.release_id and customer["gate"] == "published"
    assert customer["dataset_version"] == published.features["customer_features"]["sha256"]
    assert customer["rows"] == published.features["customer_features"]["rows"] > 0
    (orders,) = [p for p in partitions(lake.lake, "orders") if p.folder.name == "dt=2018-01-13"]
    assert events_by_asset["lake.orders"]["dataset_version"] == orders.manifest.dataset_version
    assert events_by_asset["lake.orders"]["gate"] == "passed"

    events = [e for e in client.read_events(lake) if e["job"]["name"].startswith(DAG_ID)]
    validate_events(events)
    task = [e for e in events if e["job"]["name"] == naming.task_job("train_model", DAG_ID)]
    assert sorted(e["eventType"] for e in task) == ["COMPLETE", "START"]
    dag_run = naming.dag_run_id(DAG_ID, run_id)
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in task} == {dag_run}
    complete = next(e for e in task if e["eventType"] == "COMPLETE")
    version = complete["outputs"][0]["facets"]["datasetVersion"]["datasetVersion"]
    folder = lake.data_dir / "models" / "repeat_purchase" / f"version={version}"
    assert (folder / "card.md").is_file() and (folder / "model.pkl").is_file()

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
