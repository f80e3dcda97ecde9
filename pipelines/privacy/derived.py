"""Erasure in what was derived from the lake: feature snapshots, releases and the warehouse.

A derived row belongs to the subject when any of its text columns holds one of the subject's
keys (a ``customer_unique_token``, an ``order_id``): :func:`pipelines.lake.subject_match.in_any_key`
over every VARCHAR column, so no feature table or warehouse model is listed by hand.

* A snapshot file is rewritten without those rows (written beside it, renamed over it) and its
  release records the new SHA-256 and row count; the release's lake partitions get their new
  dataset versions.
* The warehouse loses those rows from every table, then is copied into a fresh file that
  replaces it (``COPY FROM DATABASE``): DuckDB keeps deleted rows in free blocks of the old
  file, so deleting alone would only hide them.

Aggregates over many people (product and seller features) hold no row of the subject: the
erasure builds them again from the rewritten lake (:mod:`pipelines.privacy.rebuild`).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.hashing import file_sha256
from pipelines.lake.subject_match import in_any_key
from pipelines.privacy.rewrite import Rewritten
from pipelines.sql import q, sql_str


@dataclass(frozen=True)
class DerivedRewrite:
    artifact: str  # "features/customer_features/as_of=..." or "warehouse:<schema>.<table>"
    old_version: str | None
    new_version: str | None
    rows_removed: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _text_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [
        str(r[0])
        for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        if str(r[1]) == "VARCHAR"
    ]


def subject_rows_where(con: duckdb.DuckDBPyConnection, relation: str) -> str | None:
    """A condition for the subject's rows of ``relation``; None if it has no text column."""
    cols = _text_columns(con, relation)
    if not cols:
        return None
    return "(" + " OR ".join(in_any_key(q(c)) for c in cols) + ")"


def count_subject_rows(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    where = subject_rows_where(con, relation)
    if where is None:
        return 0
    row = con.execute(f"SELECT count(*) FROM {relation} WHERE {where}").fetchone()
    return int(row[0]) if row else 0


def snapshot_files(features_dir: Path) -> list[Path]:
    return sorted(features_dir.glob("*/as_of=*/data.parquet"))


def rewrite_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> DerivedRewrite | None:
    relation = f"read_parquet({sql_str(str(path))})"
    removed = count_subject_rows(con, relation)
    if not removed:
        return None
    where = subject_rows_where(con, relation)
    old = file_sha256(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con.execute(
            f"COPY (SELECT * FROM {relation} WHERE NOT coalesce({where}, false)) "
            f"TO {sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    artifact = f"features/{path.parent.parent.name}/{path.parent.name}"
    return DerivedRewrite(artifact, old, file_sha256(path), removed)


def _update_release(path: Path, snapshots: dict[str, DerivedRewrite], lake: dict[str, str]) -> bool:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for part in data.get("partitions", []):
        if part.get("dataset_version") in lake:
            part["dataset_version"] = lake[part["dataset_version"]]
            changed = True
    for table, info in data.get("features", {}).items():
        done = snapshots.get(f"features/{table}/as_of={data.get('as_of')}")
        if done is not None and isinstance(info, dict):
            info["sha256"] = done.new_version
            if "decided_sha256" in info:  # what load_features checks the served file against
                info["decided_sha256"] = done.new_version
            info["rows"] = int(info.get("rows", 0)) - done.rows_removed
            info["rows_erased"] = int(info.get("rows_erased", 0)) + done.rows_removed
            changed = True
    if changed:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return changed


def rewrite_features(
    con: duckdb.DuckDBPyConnection, features_dir: Path, lake_rewrites: list[Rewritten]
) -> list[DerivedRewrite]:
    """Rewrite every snapshot holding the subject; point the releases at the new versions."""
    done = [d for p in snapshot_files(features_dir) if (d := rewrite_snapshot(con, p))]
    by_artifact = {d.artifact: d for d in done}
    versions = {r.old_version: r.new_version for r in lake_rewrites}
    for release in sorted((features_dir / "releases").glob("as_of=*.json")):
        _update_release(release, by_artifact, versions)
    return done


def _base_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        [catalog],
    ).fetchall()
    return [f"{q(catalog)}.{q(str(s))}.{q(str(t))}" for s, t in rows]


def warehouse_hits(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int]:
    """Rows of the subject per warehouse table (tables without any left out)."""
    out = {}
    for relation in _base_tables(con, catalog):
        n = count_subject_rows(con, relation)
        if n:
            out[relation.split(".", 1)[1].replace('"', "")] = n
    return out


def rewrite_warehouse(
    con: duckdb.DuckDBPyConnection, warehouse: Path, *, fresh: bool = False
) -> list[DerivedRewrite]:
    """Delete the subject's rows from every warehouse table, then replace the file by a fresh
    copy (no free block of the old file keeps them); ``fresh``: copy it even if no row was
    deleted (a rebuild replaced aggregates holding the subject's contribution)."""
    if not warehouse.is_file():
        return []
    con.execute(f"ATTACH {sql_str(str(warehouse))} AS wh")
    done = []
    try:
        for name, rows in warehouse_hits(con, "wh").items():
            schema, table = name.split(".", 1)
            con.execute(
                f"DELETE FROM wh.{q(schema)}.{q(table)} WHERE "
                f"{subject_rows_where(con, f'wh.{q(schema)}.{q(table)}')}"
            )
            done.append(DerivedRewrite(f"warehouse:{name}", None, None, rows))
        if done or fresh:
            copy = warehouse.with_name(f".{warehouse.name}.{uuid.uuid4().hex[:8]}.tmp")
            con.execute(f"ATTACH {sql_str(str(copy))} AS fresh")
            con.execute("COPY FROM DATABASE wh TO fresh")
            con.execute("DETACH fresh")
            con.execute("DETACH wh")
            os.replace(copy, warehouse)
            return done
    finally:
        if any(r[0] == "wh" for r in con.execute("SHOW DATABASES").fetchall()):
            con.execute("DETACH wh")
    return done
