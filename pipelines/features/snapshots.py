"""Export one as-of snapshot of each feature mart from the warehouse to Parquet, and read
releases back."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.features.paths import FEATURE_TABLES, release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.hashing import file_sha256
from pipelines.settings import Settings
from pipelines.sql import sql_str
from pipelines.warehouse.project import MARTS_SCHEMA


def export_snapshots(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: date,
    tables: tuple[str, ...] = FEATURE_TABLES,
) -> dict[str, dict[str, Any]]:
    """Write ``<table>`` rows with ``as_of_date = as_of`` to the snapshot file of each table.

    Each file is written beside its destination and renamed into place, so a reader sees the
    old snapshot or the new one, never half of one. Rows are ordered by the table's key so
    the same warehouse content gives byte-identical files.
    """
    out: dict[str, dict[str, Any]] = {}
    for table in tables:
        dest = snapshot_file(settings, table, as_of)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        key = con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position LIMIT 1",
            [MARTS_SCHEMA, table],
        ).fetchone()
        if key is None:
            raise LookupError(f"feature table {table} not found in {settings.warehouse}")
        try:
            con.execute(
                f"COPY (SELECT * FROM {MARTS_SCHEMA}.{table} WHERE as_of_date = ?::DATE "
                f'ORDER BY "{key[0]}") TO {sql_str(str(tmp))} '
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
        raise FileNotFoundError(f"no feature release as of {as_of}: {path} does not exist")
    return Release.from_json(path.read_text(encoding="utf-8"))


def releases(settings: Settings) -> list[Release]:
    """Every release, oldest as-of date first."""
    folder = release_file(settings, date(2000, 1, 1)).parent
    if not folder.is_dir():
        return []
    return [
        Release.from_json(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("as_of=*.json"))
    ]
