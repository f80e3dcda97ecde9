"""Daily commerce pipeline: protected ingestion of every source table, per data interval.

Each task is one call into ``pipelines``; ingestion of a table runs after the tables its
foreign keys reference (derived from the source contracts in ``contracts/``). Tasks are
idempotent: re-running an interval replaces that interval's lake partition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from pipelines.plan import ingestion_plan

PLAN = ingestion_plan()


@dag(
    dag_id="commerce_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2016, 9, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    tags=["commerce", "ingestion", "pii"],
    # The retry delay comes from Airflow's [core] default_task_retry_delay (300 s by default).
    default_args={"retries": 2},
    doc_md=__doc__,
)
def commerce_daily() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def ingest(table: str, data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.tasks import ingest as run

        return run(table, data_interval_start, data_interval_end, run_id)

    tasks = {table: ingest.override(task_id=f"ingest_{table}")(table) for table in PLAN.order}
    for table, upstream in PLAN.upstream.items():
        for parent in upstream:
            tasks[parent] >> tasks[table]


commerce_daily()
