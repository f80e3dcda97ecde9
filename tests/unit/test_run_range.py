"""`pipelines run`: the range's intervals, its progress prefix and its summary table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.lake.interval import Interval
from pipelines.runrange import (
    Clock,
    IntervalResult,
    RangeError,
    daily_intervals,
    gate_text,
    render_summary,
)
from pipelines.schedule import IntervalBeforeStartError
from pipelines.settings import Settings


def test_a_range_is_its_daily_intervals_end_exclusive(settings: Settings):
    days = daily_intervals(date(2018, 1, 1), date(2018, 1, 4), settings)
    assert [str(i.start.date()) for i in days] == ["2018-01-01", "2018-01-02", "2018-01-03"]
    assert days[0] == Interval.day(date(2018, 1, 1))


def test_an_empty_range_a_range_before_the_start_and_another_schedule_are_named(tmp_path):
    settings = Settings(data_dir=tmp_path, dag_start_date=date(2018, 1, 1))
    with pytest.raises(RangeError, match="--to is exclusive"):
        daily_intervals(date(2018, 1, 2), date(2018, 1, 2), settings)
    with pytest.raises(IntervalBeforeStartError, match="PIPELINES_DAG_START_DATE"):
        daily_intervals(date(2017, 12, 31), date(2018, 1, 2), settings)
    hourly = Settings(data_dir=tmp_path, dag_schedule="0 * * * *")
    with pytest.raises(RangeError, match="PIPELINES_DAG_SCHEDULE"):
        daily_intervals(date(2018, 1, 1), date(2018, 1, 2), hourly)


def test_the_prefix_says_where_the_range_is_with_elapsed_time_and_eta():
    clock_now = [0.0]
    clock = Clock(3, now=lambda: clock_now[0])
    day = Interval.day(date(2018, 1, 1))
    clock.current = 1
    clock_now[0] = 5
    assert clock.prefix(day) == "[1/3 2018-01-01 | 5s elapsed, ETA after the first interval] "
    clock.finished.append(60.0)  # the first interval took a minute
    clock.current = 2
    clock_now[0] = 70  # 10 s into the second
    second = Interval.day(date(2018, 1, 2))
    assert clock.prefix(second) == "[2/3 2018-01-02 | 1m10s elapsed, ETA 1m50s] "
    clock.finished.append(40.0)  # the second took 40 s: one left, 50 s on average
    clock_now[0] = 100
    assert clock.prefix(second) == "[2/3 2018-01-02 | 1m40s elapsed, ETA 50s] "


def test_the_summary_has_a_line_per_interval_with_gate_rows_and_release():
    good = IntervalResult(Interval.day(date(2018, 1, 1)), exit_code=0, seconds=42)
    good.gate, good.loaded, good.quarantined = "passed", 1234, 5
    good.release = "published (r1)"
    bad = IntervalResult(
        Interval.day(date(2018, 1, 2)), exit_code=1, seconds=3, failed_tasks=["ingest_orders"]
    )
    skipped = IntervalResult(Interval.day(date(2018, 1, 3)))
    text = render_summary([good, bad, skipped], Path("/x/run-airflow.log"))
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("2018")}
    expected = ["success", "42s", "passed", "1,234", "5", "published", "(r1)"]
    assert lines["2018-01-01"].split()[1:] == expected
    assert "FAILED: ingest_orders" in lines["2018-01-02"]
    assert "not run" in lines["2018-01-03"]
    assert "1 of 3 interval(s) succeeded" in text


def test_a_failed_gate_is_named_by_its_root_check_with_its_consequences_counted():
    decision = {
        "passed": False,
        "failed_checks": ["orders.order_status_representative: delivered 63.6% vs ..."],
        "consequences": ["order_items.contract.foreign_key.order_id: ...", "x", "y"],
    }
    assert gate_text(decision) == ("FAILED: orders.order_status_representative (3 consequence(s))")
    assert gate_text({"passed": True}) == "passed"


def _airflow_db(home: Path, state: str, failed: list[str]) -> None:
    import sqlite3

    home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(home / "airflow.db") as con:
        con.execute("CREATE TABLE IF NOT EXISTS dag_run (id INTEGER, dag_id, run_id, state)")
        con.execute(
            "CREATE TABLE IF NOT EXISTS task_instance (dag_id, run_id, task_id, state, start_date)"
        )
        run = f"r{state}"
        con.execute(
            "INSERT INTO dag_run VALUES ((SELECT count(*) + 1 FROM dag_run), 'commerce_daily', ?, ?)",
            [run, state],
        )
        for task in failed:
            con.execute(
                "INSERT INTO task_instance VALUES ('commerce_daily', ?, ?, 'failed', 0)",
                [run, task],
            )


def test_one_airflow_process_is_followed_interval_by_interval(settings: Settings, capsys):
    """The markers of ``pipelines.airflow_runs`` move the prefix to the running interval and,
    as each run ends, give its outcome line (from what Airflow stored) and a failure report."""
    from pipelines.runrange import RangeRun

    home = settings.data_dir / "airflow"
    results = [IntervalResult(Interval.day(date(2018, 1, d))) for d in (1, 2, 3)]
    follow = RangeRun(settings, results, {"AIRFLOW_HOME": str(home)}, Path("/x/run.log"))
    follow.on_line("[DAG RUNS] run 1/3 commerce_daily 2018-01-02\n")
    assert follow.prefix().startswith("[1/3 2018-01-01 | ")
    _airflow_db(home, "success", [])
    follow.on_line("[DAG RUNS] done 1/3 commerce_daily 2018-01-02 exit=0\n")
    follow.on_line("[DAG RUNS] run 2/3 commerce_daily 2018-01-03\n")
    assert follow.prefix().startswith("[2/3 2018-01-02 | ") and "ETA " in follow.prefix()
    _airflow_db(home, "success", ["ingest_orders"])  # exit 0, but a task failed
    follow.on_line("[DAG RUNS] done 2/3 commerce_daily 2018-01-03 exit=0\n")
    out = capsys.readouterr().out
    assert [r.exit_code for r in results] == [0, 1, None]
    assert results[1].failed_tasks == ["ingest_orders"]
    assert "interval 2018-01-01 success in" in out
    assert "FAILED: interval 2 of 3, [2018-01-02" in out and "ingest_orders: look at" in out
