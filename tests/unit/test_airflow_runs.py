"""``python -m pipelines.airflow_runs DAG DATE...``: its usage, without starting Airflow."""

from __future__ import annotations

from pipelines import airflow_runs


def test_without_a_dag_and_a_date_it_prints_its_usage(capsys):
    assert airflow_runs.main([]) == 2
    assert airflow_runs.main(["commerce_daily"]) == 2
    assert airflow_runs.main(["commerce_daily", "--keep-going"]) == 2  # a flag is no date
    assert airflow_runs.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "python -m pipelines.airflow_runs commerce_daily 2018-01-02" in out
