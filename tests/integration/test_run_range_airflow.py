"""`pipelines run --from --to` over two short days of generated data (real Airflow,
`airflow dags test`, SQLite metadata): a good day runs green and is summarised with its gate,
rows and release; a day whose orders file drifted fails, named with its interval, its failed
task and what to look at. In that day's DAG run the drifted file fails its task with a message
naming the file, the tasks downstream of it do not run, and its lineage says why."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo import airflow_env
from pipelines.generate import generate
from pipelines.lake.partitions import partitions
from pipelines.protection import create_keyring
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb
from tests.integration.airflow_state import task_states

DRIFTED = "2018-01-02"  # the second interval [2018-01-02, 2018-01-03): its orders file drifted

pytestmark = [pytest.mark.integration, pytest.mark.first(53)]  # DAG runs: started first


def test_a_range_runs_day_by_day_and_names_the_failed_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: InstallAirflowDb, capsys
):
    data = tmp_path / "data"
    key_file = tmp_path / "keyring.json"
    create_keyring(key_file)
    for name, value in {
        "PIPELINES_DATA_DIR": str(data),
        "PIPELINES_KEY_FILE": str(key_file),
        "PIPELINES_DUCKDB_MEMORY_LIMIT": "1GB",
        "PIPELINES_DUCKDB_THREADS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    generate(settings.landing, orders=120, days=2, seed=3, start=date(2018, 1, 1))
    drifted = next((settings.landing / DRIFTED).glob("olist_orders_dataset.*"))
    drifted.unlink()
    (drifted.parent / "olist_orders_dataset.csv").write_text("order_id,customer_id\nx,y\n")
    env = airflow_env(settings, {})
    airflow_db(env)  # migrated once per session

    code = main(["run", "--from", "2018-01-01", "--to", "2018-01-03"])
    out = capsys.readouterr().out

    assert code == 1, out[-4000:]
    lines = out.splitlines()
    assert any(line.startswith("[1/2 2018-01-01 | ") for line in lines), out[-4000:]
    assert any(line.startswith("[2/2 2018-01-02 | ") and "ETA " in line for line in lines)
    assert any("quality_gate done" in line for line in lines)
    done = next(line for line in lines if "interval 2018-01-01 success in" in line)
    assert "gate passed" in done and "release published" in done
    failure = next(line for line in lines if line.startswith("FAILED: interval 2 of 2"))
    assert "[2018-01-02" in failure and "ingest_orders" in failure
    assert any("ingest_orders: look at" in line and "run-airflow.log" in line for line in lines)
    summary = {line.split()[0]: line for line in lines if line.startswith("2018-01-0")}
    assert "success" in summary["2018-01-01"] and "passed" in summary["2018-01-01"]
    assert "published" in summary["2018-01-01"]
    assert "FAILED: ingest_orders" in summary["2018-01-02"]
    assert "1 of 2 interval(s) succeeded" in out
    _assert_the_drifted_run(settings, env)


def _assert_the_drifted_run(settings: Settings, env: dict[str, str]) -> None:
    """The failed task stopped its dependants; the log names the file; nothing was published."""
    states = task_states(env, interval_start=DRIFTED)
    assert states["ingest_orders"] == "failed"
    assert states["ingest_customers"] == "success"
    for child in ("ingest_order_items", "ingest_order_payments", "ingest_order_reviews"):
        assert states[child] == "upstream_failed", child
    assert states["quality_gate"] == "upstream_failed"  # nothing downstream publishes
    logs = "".join(p.read_text() for p in settings.data_dir.rglob("run-airflow.log"))
    assert f"{DRIFTED}/olist_orders_dataset.csv: missing column(s) order_status" in logs
    assert [p.name for p in partitions(settings.lake, "orders")] == ["dt=2018-01-01"]
    _assert_failure_lineage(settings)


def _assert_failure_lineage(settings: Settings) -> None:
    """The provider's FAIL of each try says why, the DAG run fails once, and no personal
    value of the drifted day's landing files is in the events."""
    from pipelines.lineage import client, naming
    from tests.integration.dag_run_lineage import PROVIDER
    from tests.unit.lineage.ol_schema import validate_events

    events = client.read_events(settings)
    validate_events(events)
    job = naming.task_job("ingest_orders")
    failed = [e for e in events if e["job"]["name"] == job and e["eventType"] == "FAIL"]
    assert failed and all(e["producer"].startswith(PROVIDER) for e in failed)
    for event in failed:
        assert "missing column(s) order_status" in event["run"]["facets"]["errorMessage"]["message"]
    runs = [e for e in events if e["job"]["name"] == job]
    good = {e["run"]["runId"] for e in runs if e["eventType"] == "COMPLETE"}  # the good day's
    tries = {e["run"]["runId"] for e in runs} - good
    assert len(good) == 1 and len(tries) == len(failed)  # one FAIL per try, each its own run
    dag_events = [e["eventType"] for e in events if e["job"]["name"] == "commerce_daily"]
    assert dag_events == ["START", "COMPLETE", "START", "FAIL"]  # the good day, the drifted one
    text = client.events_path(settings).read_text(encoding="utf-8")
    personal = _personal_values(settings.landing / DRIFTED)
    assert len(personal) > 50
    assert [v for v in personal if v in text] == []


def _personal_values(day: Path) -> set[str]:
    """The e-mail addresses and phone numbers of a day's generated customer profiles."""
    (path,) = day.glob("*customer_profiles*")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
        rows = list(csv.DictReader(handle))
    return {row[c] for row in rows for c in ("email", "phone") if row.get(c)}
