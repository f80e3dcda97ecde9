"""``python -m pipelines.airflow_runs DAG DATE...``: its usage, without starting Airflow."""

from __future__ import annotations

import json

from pipelines import airflow_runs


def test_without_a_dag_and_a_date_it_prints_its_usage(capsys):
    assert airflow_runs.main([]) == 2
    assert airflow_runs.main(["commerce_daily"]) == 2
    assert airflow_runs.main(["commerce_daily", "--keep-going"]) == 2  # a flag is no date
    assert airflow_runs.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "python -m pipelines.airflow_runs commerce_daily 2018-01-02" in out


def test_before_commands_run_first_in_the_same_process_and_a_failure_stops_the_dates(
    monkeypatch,
):
    calls: list[tuple] = []
    codes = iter([0, 1])
    monkeypatch.setattr(
        airflow_runs, "run_commands", lambda c: calls.append(("commands", c)) or next(codes)
    )
    monkeypatch.setattr(
        airflow_runs, "run_dates", lambda d, ds, keep_going: calls.append(("dates", d, ds)) or 0
    )
    before = '[["db", "migrate"], ["pools", "set", "p", "1", "d"]]'
    assert airflow_runs.main(["--before", before, "commerce_daily", "2018-01-02"]) == 0
    assert calls == [
        ("commands", [["db", "migrate"], ["pools", "set", "p", "1", "d"]]),
        ("dates", "commerce_daily", ["2018-01-02"]),
    ]
    calls.clear()
    assert airflow_runs.main(["--before", before, "commerce_daily", "2018-01-02"]) == 1
    assert calls == [("commands", [["db", "migrate"], ["pools", "set", "p", "1", "d"]])]


def test_the_demo_and_run_migrate_where_the_runs_start():
    from pipelines.demo import DAG_ID, PREPARE_COMMANDS, runs_program

    program = runs_program(before=PREPARE_COMMANDS)
    assert program[1:4] == ["-m", "pipelines.airflow_runs", "--before"]
    assert [tuple(c) for c in json.loads(program[4])] == list(PREPARE_COMMANDS)
    assert program[5:] == [DAG_ID]
    assert runs_program()[1:] == ["-m", "pipelines.airflow_runs", DAG_ID]
