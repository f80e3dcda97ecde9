"""`pipelines run --from --to` over two short days of generated data (real Airflow,
`airflow dags test`, SQLite metadata): a good day runs green and is summarised with its gate,
rows and release; a day whose orders file drifted fails, named with its interval, its failed
task and what to look at."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo import airflow_env
from pipelines.generate import generate
from pipelines.protection import create_keyring
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb

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
    drifted = next((settings.landing / "2018-01-02").glob("olist_orders_dataset.*"))
    drifted.unlink()
    (drifted.parent / "olist_orders_dataset.csv").write_text("order_id,customer_id\nx,y\n")
    airflow_db(airflow_env(settings, {}))  # migrated once per session

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
