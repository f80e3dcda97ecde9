"""Lake partitions as polars frames, read verified, from a local lake or an object store.

For code that works on polars frames (the model's labels, its representativeness and
``explain``): each data file is checked against its manifest first
(:func:`~pipelines.lake.partitions.verified_data_files`). A local lake is scanned by polars
as before (lazy, only the columns asked for); on an object store DuckDB reads the columns
through httpfs (:meth:`~pipelines.lake.storage.LakeStorage.prepare`, the same credentials as
every other reader of the store) and hands them to polars as Arrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl

from pipelines.lake.partitions import Partition, verified_data_files
from pipelines.lake.storage import LocalStorage
from pipelines.sql import q, sql_str


def scan_data(
    parts: Sequence[Partition],
    columns: Sequence[str],
    *,
    partition_column: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> pl.LazyFrame:
    """``columns`` of the data of ``parts`` (one lake, one table), each file verified first
    (:class:`~pipelines.lake.partitions.LakeIntegrityError` on a changed file).
    ``partition_column``: also a column of that name holding each row's partition name
    (``dt=...``). ``config``: the DuckDB connection's settings (memory limit, threads) for a
    read from an object store."""
    if not parts:
        raise ValueError("scan_data: no partitions to read")
    files = verified_data_files(parts)
    names = [p.name for p in parts]
    if isinstance(parts[0].store, LocalStorage):  # polars scans the local files, lazily
        if partition_column is None:
            return pl.scan_parquet(files).select(columns)
        return pl.concat(
            pl.scan_parquet(f).select(columns).with_columns(pl.lit(n).alias(partition_column))
            for f, n in zip(files, names, strict=True)
        )
    selected = ", ".join(q(c) for c in columns)
    if partition_column is None:
        listing = ", ".join(sql_str(f) for f in files)
        query = f"SELECT {selected} FROM read_parquet([{listing}], hive_partitioning = false)"
    else:
        query = "\nUNION ALL\n".join(
            f"SELECT {selected}, {sql_str(n)} AS {q(partition_column)} "
            f"FROM read_parquet({sql_str(f)}, hive_partitioning = false)"
            for f, n in zip(files, names, strict=True)
        )
    with duckdb.connect(config=dict(config or {})) as con:
        parts[0].store.prepare(con)
        con.execute("SET TimeZone = 'UTC'")  # timestamps as polars reads them locally
        frame = con.execute(query).pl()
    return frame.lazy()
