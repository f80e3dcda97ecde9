"""Daily commerce pipeline: protected ingestion and the quality gate, per data interval.

``ingest_<table>`` reads the interval's landing files into the protected lake;
``quality_<table>`` validates the partition with Great Expectations (contract checks,
business rules, freshness, representativeness and drift); ``quality_report`` builds the Data
Docs; ``quality_gate`` fails the run when a critical check failed, so nothing downstream
publishes that data. ``build_features`` then builds the ML feature tables with dbt from the
gate-passed partitions as of the interval end, ``check_<feature table>`` validates each
snapshot, ``publish_features`` serves the release to ML teams when those checks passed, and
``feature_docs`` renders the dbt docs; ``purge_retention`` deletes landing files and lake
partitions past their contract's ``retention_days`` (audited); ``release_representativeness``
releases through OpenDP the segment shares that the portal shows outside the governance role
(once per partition version and column, from the privacy budget). A table is ingested after the quality tasks of the
tables its foreign keys reference (derived from the contracts and ``expectations/``). Every
task is one call into ``pipelines`` and idempotent: re-running an interval replaces its
partitions and its feature snapshots. Every task emits OpenLineage events
(``pipelines.lineage``).

Configuration, not code: the tables come from the contracts in the ``contracts_dir`` setting
(``PIPELINES_CONTRACTS_DIR``), and the start date, schedule and catch-up from the settings
``dag_start_date``, ``dag_schedule`` and ``dag_catchup`` (``PIPELINES_DAG_*`` or the TOML
settings file). ``check_interval`` fails a run whose interval starts before the start date,
by name (every task's scope checks it too). For that it must run: Airflow creates no task
instance for a task whose start date lies after the run's logical date, and such a run would
"succeed" having run nothing. So without catch-up ``check_interval`` starts at the epoch (the
scheduler then creates only the latest interval's run, whatever the tasks' start dates), and
it has no downstream tasks: it is a leaf, and a failed leaf fails the run. With catch-up the
scheduler would start at the earliest task start date, so ``check_interval`` keeps the DAG's:
a manual run before the start date then creates no task instances (Airflow's behaviour).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from pipelines.assets import feature_assets, lake_assets
from pipelines.features.paths import feature_table_names
from pipelines.plan import ingestion_plan
from pipelines.policy.notify import OwnerNotifier
from pipelines.quality.plan import quality_plan
from pipelines.schedule import start_datetime
from pipelines.settings import Settings

SETTINGS = Settings()
PLAN = ingestion_plan(SETTINGS.contracts_dir)
QUALITY = quality_plan(SETTINGS.contracts_dir, SETTINGS.expectations_dir)
# the feature tables declared in the dbt models' YAML (config.meta.feature_table)
FEATURE_TABLES = feature_table_names(SETTINGS)


@dag(
    dag_id="commerce_daily",
    schedule=CronDataIntervalTimetable(SETTINGS.dag_schedule, timezone="UTC"),
    start_date=start_datetime(SETTINGS),
    catchup=SETTINGS.dag_catchup,
    max_active_runs=4,
    tags=["commerce", "ingestion", "pii", "quality", "features"],
    # The retry delay comes from Airflow's [core] default_task_retry_delay (300 s by default).
    # A task that fails for good opens a finding and e-mails its owner (docs/policy.md).
    default_args={"retries": SETTINGS.dag_retries, "on_failure_callback": OwnerNotifier()},
    doc_md=__doc__,
)
def commerce_daily() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def check_interval(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.tasks import check_interval as run

        return run(data_interval_start, data_interval_end, run_id)

    @task(execution_timeout=timedelta(hours=1))
    def ingest(table: str, data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.tasks import ingest as run

        return run(table, data_interval_start, data_interval_end, run_id)

    @task(execution_timeout=timedelta(hours=1))
    def validate(table: str, data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.quality.tasks import validate as run

        return run(table, data_interval_start, data_interval_end, run_id)

    @task(trigger_rule="all_done", execution_timeout=timedelta(minutes=30))
    def quality_report(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.quality.tasks import build_docs

        return build_docs(data_interval_start, data_interval_end, run_id)

    # One writing process per DuckDB file: the one-slot pool (made by `airflow-init` / `pipelines
    # demo`). The marts are cumulative: built in interval order, so overlapping runs never build
    # while an earlier interval's gate is undecided (README, "Backfilling a date range").
    @task(pool="duckdb_warehouse", execution_timeout=timedelta(hours=2), depends_on_past=True)
    def build_features(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.features.tasks import build

        return build(data_interval_start, data_interval_end, run_id)

    @task(execution_timeout=timedelta(minutes=30))
    def check_features(table: str, data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.features.tasks import check

        return check(table, data_interval_start, data_interval_end, run_id)

    # Each feature table is an Asset: a published release emits an event per table with its
    # release id, dataset version, rows and gate status (train_repeat_purchase runs on it).
    @task(outlets=feature_assets(FEATURE_TABLES))
    def publish_features(  # type: ignore[no-untyped-def]
        data_interval_start=None, data_interval_end=None, run_id=None, outlet_events=None
    ):
        from pipelines.assets import publish_with_assets

        return publish_with_assets(data_interval_start, data_interval_end, run_id, outlet_events)

    @task(pool="duckdb_warehouse", execution_timeout=timedelta(minutes=30))
    def feature_docs(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.features.tasks import docs

        return docs(data_interval_start, data_interval_end, run_id)

    @task
    def purge_retention(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.privacy.tasks import purge_retention

        return purge_retention(data_interval_start, data_interval_end, run_id)

    @task
    def release_representativeness(data_interval_start=None, data_interval_end=None, run_id=None):  # type: ignore[no-untyped-def]
        from pipelines.privacy.tasks import release_representativeness

        return release_representativeness(data_interval_start, data_interval_end, run_id)

    # Each lake table is an Asset: a passed gate emits an event per table with the interval's
    # partition, dataset version, rows and check counts.
    @task(outlets=lake_assets(PLAN.order))
    def quality_gate(  # type: ignore[no-untyped-def]
        data_interval_start=None, data_interval_end=None, run_id=None, outlet_events=None
    ):
        from pipelines.assets import gate_with_assets

        return gate_with_assets(
            data_interval_start, data_interval_end, run_id, PLAN.order, outlet_events
        )

    check_interval()  # on its own: see the module docstring
    ingests = {t: ingest.override(task_id=f"ingest_{t}")(t) for t in PLAN.order}
    checks = {t: validate.override(task_id=f"quality_{t}")(t) for t in QUALITY.order}
    for table in PLAN.order:
        ingests[table] >> checks[table]
        for parent in PLAN.upstream[table]:
            checks[parent] >> ingests[table]
        for other in QUALITY.reads[table]:
            checks[other] >> checks[table]
    report = quality_report()
    passed = quality_gate()
    list(checks.values()) >> report
    [*checks.values(), report] >> passed

    built = build_features()
    feature_checks = [check_features.override(task_id=f"check_{t}")(t) for t in FEATURE_TABLES]
    published = publish_features()
    passed >> release_representativeness()
    passed >> built >> feature_checks >> published >> [feature_docs(), purge_retention()]


DAG = commerce_daily()
if not SETTINGS.dag_catchup:
    # After the task is added (adding clamps a task's start date to the DAG's): see above.
    DAG.get_task("check_interval").start_date = datetime(1970, 1, 1, tzinfo=UTC)
