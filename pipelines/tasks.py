"""The functions Airflow tasks call: one call per task, plain values in and out.

DAG files import this module lazily inside task bodies, so parsing a DAG never imports
DuckDB, cryptography or the contracts machinery. Return values become XComs: they carry
counts, paths and hashes, never data values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.taskscope import task_scope


def ingest(
    table: str, data_interval_start: datetime, data_interval_end: datetime, run_id: str | None
) -> dict[str, Any]:
    """Ingest one source table for the run's data interval (idempotent per interval)."""
    from pipelines.ingest.lineage import ingestion_lineage

    interval = Interval(data_interval_start, data_interval_end)
    with task_scope(f"ingest_{table}", data_interval_start, data_interval_end, run_id) as (
        settings,
        lineage,
    ):
        result = ingest_table(table, interval, settings, run_id=run_id)
        lineage.complete_with(lambda: ingestion_lineage(result.manifest, settings))
    manifest = result.manifest
    return {
        "table": table,
        "partition": result.location,
        "read": manifest.counts.read,
        "loaded": manifest.counts.loaded,
        "quarantined": manifest.counts.quarantined,
        "dropped": manifest.counts.dropped,
        "suppressed": manifest.counts.suppressed,
        "quarantine_by_check": manifest.quarantine_by_check,
        "dataset_version": manifest.dataset_version,
        "warnings": list(result.warnings),  # also in the task log
    }


def check_interval(
    data_interval_start: datetime, data_interval_end: datetime, run_id: str | None
) -> dict[str, Any]:
    """The DAG's first task: the run's interval does not start before the configured start
    date (else ``AirflowFailException`` naming :class:`IntervalBeforeStartError`, no retry)."""
    from pipelines.taskscope import redaction_boundary, refuse_before_start, task_settings

    with redaction_boundary():
        settings = task_settings()
        refuse_before_start(data_interval_start, data_interval_end, settings)
    return {
        "interval_start": data_interval_start.isoformat(),
        "interval_end": data_interval_end.isoformat(),
        "start_date": settings.dag_start_date.isoformat(),
    }
