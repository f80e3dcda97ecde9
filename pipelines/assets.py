"""Lake and feature tables as Airflow Assets, and the asset events their publication emits.

Each lake table is ``Asset(name="lake.<table>", uri="pipelines://lake/<table>")``:
``commerce_daily``'s ``quality_gate`` lists them as outlets, and when the gate passes each
event's ``extra`` carries the interval's partition, its dataset version, rows loaded and
quarantined, the table's check counts and the gate status (a failed gate fails the task: no
event). Each feature table is ``Asset(name="features.<table>", uri="pipelines://features/<table>")``
(the name is the table's lineage short name). ``publish_features`` lists them as outlets; when
a release is published, each event's ``extra`` carries the release id, as-of date, the
snapshot's dataset version (SHA-256), its row count, the feature checks' counts and the gate
status, so a DAG scheduled on them (``train_repeat_purchase``) knows what it consumes.

Light at import (DAG files import it at parse time): ``airflow.sdk`` is imported by the
functions that build assets, the settings and releases only when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from pipelines.features.release import Release
    from pipelines.settings import Settings

URI_SCHEME = "pipelines"


def feature_asset(table: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=f"features.{table}", uri=f"{URI_SCHEME}://features/{table}", group="features")


def feature_assets(tables: Sequence[str]) -> list[Asset]:
    return [feature_asset(t) for t in tables]


def lake_asset(table: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=f"lake.{table}", uri=f"{URI_SCHEME}://lake/{table}", group="lake")


def lake_assets(tables: Sequence[str]) -> list[Asset]:
    return [lake_asset(t) for t in tables]


def lake_extra(settings: Settings, table: str, decision: Mapping[str, Any]) -> dict[str, Any]:
    """What one lake table's asset event says about the gated interval (no data values)."""
    from pipelines.lake.partitions import partitions
    from pipelines.lake.storage import lake_store

    start, end = decision["interval_start"], decision["interval_end"]
    part = next(
        (
            p
            for p in partitions(lake_store(settings), table)
            if (p.manifest.interval_start, p.manifest.interval_end) == (start, end)
        ),
        None,
    )
    return {
        "partition": part.name if part else None,
        "interval_start": start,
        "interval_end": end,
        "dataset_version": part.manifest.dataset_version if part else None,
        "rows": part.manifest.counts.loaded if part else 0,
        "rows_quarantined": part.manifest.counts.quarantined if part else 0,
        "checks": dict((decision.get("tables") or {}).get(table) or {}),
        "gate": "passed" if decision.get("passed") else "failed",
        "quality_run_id": decision.get("run_id"),
    }


def gate_with_assets(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    tables: Sequence[str],
    outlet_events: Any,
) -> dict[str, Any]:
    """``quality_gate`` in the DAG: decide, then attach each lake table's partition metadata
    to its asset event (a failed gate fails the task, so no event is emitted)."""
    from pipelines.quality.tasks import gate_for_airflow
    from pipelines.settings import Settings
    from pipelines.taskscope import redaction_boundary

    with redaction_boundary():
        decision = gate_for_airflow(data_interval_start, data_interval_end, run_id)
        settings = Settings()
        for table in tables:
            outlet_events[lake_asset(table)].extra.update(lake_extra(settings, table, decision))
        return decision


def asset_extra(release: Release, table: str) -> dict[str, Any]:
    """What one feature table's asset event says about the release (no data values)."""
    info = release.features.get(table) or {}
    return {
        "release_id": release.release_id,
        "as_of": release.as_of,
        "dataset_version": info.get("decided_sha256") or info.get("sha256"),
        "rows": info.get("rows"),
        "checks": dict(release.checks.get(table) or {}),
        "gate": release.status,
        "lake_partitions": len(release.partitions),
    }


def publish_with_assets(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    outlet_events: Any,
) -> dict[str, Any]:
    """``publish_features`` in the DAG: publish, then attach each table's metadata to its
    asset event (a refused release fails the task, so no event is emitted)."""
    from pipelines.features.snapshots import read_release
    from pipelines.features.tasks import as_of_for, publish_for_airflow
    from pipelines.settings import Settings
    from pipelines.taskscope import redaction_boundary

    with redaction_boundary():
        result = publish_for_airflow(data_interval_start, data_interval_end, run_id)
        release = read_release(Settings(), as_of_for(data_interval_end))
        for table in release.features:
            outlet_events[feature_asset(table)].extra.update(asset_extra(release, table))
        return result
