"""Where released feature snapshots live (outside the warehouse, so readers never take its lock).

``<data_dir>/features/<table>/as_of=<YYYY-MM-DD>/data.parquet``
    one feature snapshot: every entity's features as of that date.
``<data_dir>/features/releases/as_of=<YYYY-MM-DD>.json``
    the :class:`~pipelines.features.release.Release` behind the snapshots of that date: lake
    partitions and dataset versions, checks, dbt run, status (only ``published`` is served).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.settings import Settings
from pipelines.warehouse.declared import feature_table, feature_table_names, feature_tables

__all__ = [
    "feature_table",
    "feature_table_names",
    "feature_tables",
    "features_dir",
    "release_file",
    "snapshot_file",
]


def features_dir(settings: Settings) -> Path:
    return settings.data_dir / "features"


def snapshot_file(settings: Settings, table: str, as_of: date) -> Path:
    return features_dir(settings) / table / f"as_of={as_of.isoformat()}" / "data.parquet"


def release_file(settings: Settings, as_of: date) -> Path:
    return features_dir(settings) / "releases" / f"as_of={as_of.isoformat()}.json"
