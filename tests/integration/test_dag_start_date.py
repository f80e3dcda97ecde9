"""A run of commerce_daily before the configured start date fails by name (real Airflow,
`airflow dags test`, SQLite metadata): it never reports success having run nothing."""

from __future__ import annotations

import pytest

from pipelines.demo import airflow_env, run_airflow
from pipelines.settings import Settings
from tests.conftest import InstallAirflowDb
from tests.integration.airflow_state import task_states

pytestmark = pytest.mark.integration


def test_dags_test_before_the_start_date_fails_naming_the_setting(
    settings: Settings, tmp_path, airflow_db: InstallAirflowDb
):
    env = airflow_env(settings, {"PIPELINES_DAG_START_DATE": "2011-01-01"})
    log = tmp_path / "airflow.log"
    airflow_db(env)  # migrated once per session (prepare_airflow)
    code = run_airflow(["dags", "test", "commerce_daily", "2010-12-03"], env, log, False)
    text = log.read_text()
    assert code != 0, text[-3000:]
    assert "DagRun failed" in text
    assert "starts before the configured start date 2011-01-01" in text
    assert "PIPELINES_DAG_START_DATE" in text
    assert task_states(env) == {"check_interval": "failed"}
