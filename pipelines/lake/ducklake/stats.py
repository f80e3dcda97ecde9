"""Narrowing DuckLake's table-level column statistics to the files still live.

DuckLake keeps a min and max per table column (``ducklake_table_column_stats``) and only ever
widens them: when an erasure replaces a file and deletes its object, an erased value that was
a column's min or max would stay in the catalog's database. :func:`narrow_stats` recomputes
them from the per-file statistics of the live files (typed comparison, the winning file's
own text written back), so they stay a correct bound for pruning and hold no value of a
deleted file. Column types without a DuckDB equivalent here are left as they were (listed).
"""

from __future__ import annotations

import re

import duckdb

from pipelines.lake.ducklake.connection import ALIAS, LakeCatalog

META = f"__ducklake_metadata_{ALIAS}"
TYPES = {
    "boolean": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER",
    "int64": "BIGINT", "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER",
    "uint64": "UBIGINT", "float32": "FLOAT", "float64": "DOUBLE", "varchar": "VARCHAR",
    "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ",
    "timestamp_s": "TIMESTAMP_S", "timestamp_ms": "TIMESTAMP_MS", "timestamp_ns": "TIMESTAMP_NS",
    "uuid": "UUID",
}  # fmt: skip
DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")

LIVE = f"""
SELECT s.table_id, s.column_id,
       arg_min(s.min_value, TRY_CAST(s.min_value AS {{kind}})) AS lo,
       arg_max(s.max_value, TRY_CAST(s.max_value AS {{kind}})) AS hi
FROM {META}.ducklake_file_column_stats s
JOIN {META}.ducklake_data_file f
  ON f.data_file_id = s.data_file_id AND f.end_snapshot IS NULL
JOIN {META}.ducklake_column c
  ON c.table_id = s.table_id AND c.column_id = s.column_id AND c.end_snapshot IS NULL
WHERE c.column_type = ?
GROUP BY ALL
"""


def duckdb_type(kind: str) -> str | None:
    """The DuckDB type of DuckLake column type ``kind``, or None."""
    found = DECIMAL.fullmatch(kind)
    return f"DECIMAL({found[1]},{found[2]})" if found else TYPES.get(kind)


def narrow_stats(catalog: LakeCatalog) -> list[str]:
    """Recompute every table column's min/max from its live files, in one transaction; the
    column types left as they were (no DuckDB equivalent)."""

    def work(cur: duckdb.DuckDBPyConnection) -> list[str]:
        kinds = [
            str(r[0])
            for r in cur.execute(
                f"SELECT DISTINCT column_type FROM {META}.ducklake_column WHERE end_snapshot IS NULL"
            ).fetchall()
        ]
        for kind in kinds:
            sql_type = duckdb_type(kind)
            if sql_type is None:
                continue
            rows = cur.execute(LIVE.format(kind=sql_type), [kind]).fetchall()
            for table_id, column_id, lo, hi in rows:
                cur.execute(
                    f"UPDATE {META}.ducklake_table_column_stats SET min_value = ?, max_value = ? "
                    "WHERE table_id = ? AND column_id = ?",
                    [lo, hi, table_id, column_id],
                )
        return sorted(k for k in kinds if duckdb_type(k) is None)

    return catalog.transaction("narrowing the column statistics", work)
