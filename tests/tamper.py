"""Changing a published lake file behind the pipeline's back, as a faulty tool or a person would."""

from __future__ import annotations

from pathlib import Path

import duckdb


def rewrite(path: Path, select: str = "*") -> None:
    """Rewrite the Parquet file ``path`` in place as ``SELECT <select>`` of itself: the same
    rows (and row count), other bytes. ``select`` may change values, e.g.
    ``"* REPLACE (price * 100 AS price)"``."""
    tmp = path.with_name(path.name + ".tampered")
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT {select} FROM read_parquet('{path}', hive_partitioning = false)) "
            f"TO '{tmp}' (FORMAT parquet, KV_METADATA {{tampered: 'yes'}})"
        )
    tmp.replace(path)
