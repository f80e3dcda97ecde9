"""Export one as-of snapshot of each feature mart from the warehouse to Parquet, and read
releases back."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.features.paths import feature_tables, release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.features.stored import fetch_release, fetch_releases
from pipelines.hashing import file_sha256
from pipelines.settings import Settings
from pipelines.sql import sql_str
from pipelines.warehouse.declared import FeatureTable
from pipelines.warehouse.project import MARTS_SCHEMA


def _declared(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    declared: dict[str, FeatureTable],
    table: str,
) -> FeatureTable:
    """``table``'s declaration, checked to be built in the warehouse (else a named error)."""
    spec = declared.get(table)
    if spec is None:
        raise LookupError(
            f"{table} is not a declared feature table (config.meta.feature_table in its "
            f"dbt YAML); declared: {', '.join(declared) or 'none'}"
        )
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [MARTS_SCHEMA, table],
    ).fetchone()
    if not found or not found[0]:
        raise LookupError(
            f"feature table {table} ({spec.path}) not found in {settings.warehouse} "
            f"(schema {MARTS_SCHEMA}): did its model build? Put it under features/ in your "
            "models folder (dbt_models_dir), which builds into that schema"
        )
    return spec


def export_snapshots(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: date,
    tables: tuple[str, ...] | None = None,
) -> dict[str, dict[str, Any]]:
    """Write the ``as_of`` snapshot of each declared feature table (default: every one that
    is on; see :mod:`pipelines.warehouse.declared`) to its snapshot file.

    Each file is written beside its destination and renamed into place, so a reader sees the
    old snapshot or the new one, never half of one. Rows are ordered by the table's entity
    key so the same warehouse content gives byte-identical files.
    """
    out: dict[str, dict[str, Any]] = {}
    declared = {t.name: t for t in feature_tables(settings)}
    for table in tables if tables is not None else tuple(declared):
        spec = _declared(con, settings, declared, table)
        dest = snapshot_file(settings, table, as_of)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        order = ", ".join(f'"{k}"' for k in spec.entity_key)
        try:
            con.execute(
                f'COPY (SELECT * FROM {MARTS_SCHEMA}.{table} WHERE "{spec.as_of}" = ?::DATE '
                f"ORDER BY {order}) TO {sql_str(str(tmp))} "
                "(FORMAT parquet, COMPRESSION zstd)",
                [as_of.isoformat()],
            )
            rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_str(str(tmp))})").fetchone()
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        out[table] = {
            "rows": int(rows[0]) if rows else 0,
            "file": str(dest),
            "sha256": file_sha256(dest),
        }
    return out


def write_release(settings: Settings, release: Release) -> Path:
    path = release_file(settings, date.fromisoformat(release.as_of))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(release.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_release(settings: Settings, as_of: date) -> Release:
    path = release_file(settings, as_of)
    if not path.is_file():
        fetch_release(settings, as_of)  # published from another machine (lake on S3)
    if not path.is_file():
        raise FileNotFoundError(f"no feature release as of {as_of}: {path} does not exist")
    return Release.from_json(path.read_text(encoding="utf-8"))


def releases(settings: Settings) -> list[Release]:
    """Every release, oldest as-of date first."""
    fetch_releases(settings)  # those published from other machines (lake on S3)
    folder = release_file(settings, date(2000, 1, 1)).parent
    if not folder.is_dir():
        return []
    return [
        Release.from_json(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("as_of=*.json"))
    ]
