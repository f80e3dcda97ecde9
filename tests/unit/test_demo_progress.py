"""``make demo`` shows progress throughout: every finished task, and a line at least every
``HEARTBEAT`` seconds while a task runs silently (the quality gate and the dbt build print
nothing of their own for a minute)."""

from __future__ import annotations

from pipelines.demo import HEARTBEAT, Progress

START = "2026-12-05T23:11:48.898077Z [info     ] [DAG TEST] starting task_id={} map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501"
END = "2026-12-05T23:11:50.378694Z [info     ] [DAG TEST] end task task_id={} map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563"
INGESTED = "2026-12-05T23:11:39.180225Z [info     ] orders: read 3,500, loaded 3,490, quarantined 10 -> /x/lake/orders/dt=2018-01-01 (1.2s) [pipelines.ingest.run]"


def test_finished_tasks_and_ingestion_counts_are_shown():
    progress = Progress(now=lambda: 100.0)
    assert progress.feed(START.format("ingest_orders")) == []
    assert progress.feed(INGESTED) == ["orders: read 3,500, loaded 3,490, quarantined 10"]
    assert progress.feed(END.format("ingest_orders")) == []  # its counts said it all
    progress.feed(START.format("quality_orders"))
    assert progress.feed(END.format("quality_orders")) == ["quality_orders done (0s)"]
    assert progress.feed("some airflow chatter") == []


def test_a_silent_task_gets_a_line_every_heartbeat():
    clock = [0.0]
    progress = Progress(now=lambda: clock[0])
    progress.feed(START.format("build_features"))
    clock[0] = HEARTBEAT - 1
    assert progress.tick() is None
    clock[0] = HEARTBEAT + 1
    assert progress.tick() == f"build_features running ({HEARTBEAT + 1:.0f}s)"
    clock[0] = HEARTBEAT + 2
    assert progress.tick() is None  # the last line is 1 s old
    clock[0] = 2 * HEARTBEAT + 2
    assert progress.tick() == f"build_features running ({2 * HEARTBEAT + 2:.0f}s)"
    clock[0] = 2 * HEARTBEAT + 5
    assert progress.feed(END.format("build_features")) == [
        f"build_features done ({2 * HEARTBEAT + 5:.0f}s)"
    ]


def test_between_tasks_the_heartbeat_names_the_run():
    clock = [0.0]
    progress = Progress(now=lambda: clock[0])
    clock[0] = HEARTBEAT + 1
    assert progress.tick() == f"airflow starting ({HEARTBEAT + 1:.0f}s)"


def test_each_day_of_the_one_airflow_process_gets_a_line():
    """``make demo`` runs every day in one process (pipelines.airflow_runs): its run markers
    become a line per day naming the data interval, and a failed run is shown."""
    progress = Progress(now=lambda: 0.0)
    assert progress.feed("[DAG RUNS] run 2/7 commerce_daily 2018-01-03") == [
        "day 2/7: interval 2018-01-02 .. 2018-01-03   (airflow dags test commerce_daily 2018-01-03)"
    ]
    failed = "[DAG RUNS] failed commerce_daily 2018-01-03: DagRun failed"
    assert progress.feed(failed) == [f"FAILED: {failed}"]


def test_a_failed_task_shows_the_cause_from_its_traceback():
    """The terminal shows the first exception line after Airflow's failure line, not only
    "Task failed with exception" (the rest stays in the log)."""
    progress = Progress(now=lambda: 0.0)
    lines = [
        "2026-12-06T22:09:55Z [error    ] Task failed with exception     [task] loc=x.py:1",
        "Traceback (most recent call last):",
        '  File "/w/pipelines/features/tasks.py", line 187, in publish',
        "pipelines.features.tasks.FeatureGateFailed: not published: critical check failed: "
        "customer_rfm.rows_present",
        "",
        "airflow.sdk.exceptions.AirflowFailException: the task failed",
    ]
    shown = [out for line in lines for out in progress.feed(line)]
    assert shown == [
        f"FAILED: {lines[0]}",
        "  cause: FeatureGateFailed: not published: critical check failed: "
        "customer_rfm.rows_present",
    ]
