"""The Iceberg sides of ``bench/table_format.py``: pyiceberg with a SQL catalog in PostgreSQL.

* ``iceberg-local``: pyiceberg's ``SqlCatalog`` in a fresh PostgreSQL database
  (``iceberg_bench_local``), the warehouse (data and metadata files) on local disk.
* ``iceberg-s3``: the same with the warehouse on the S3-compatible server the benchmark
  starts (pyiceberg's ``PyArrowFileIO``; credentials from the server's environment).

Every step loads the catalog and the table again, as every task would (``open``). A write is
``table.append(arrow)`` of the interval's Parquet read into Arrow, with the manifest's content
as the snapshot's ``snapshot_properties``; the first write creates the table from the Arrow
schema (zstd, pyiceberg's default codec, like the lake). Reads are pyiceberg scans into Arrow
(only the columns the query needs; the key lookup with a row filter), then the count or sum in
DuckDB over the Arrow table: pyiceberg plans the files from the manifests and reads them with
PyArrow, DuckDB only aggregates. The as-of count is ``scan(snapshot_id=first).count()``
(record counts from the manifests, as DuckDB counts Parquet rows from footers). Reads are not
verified: Iceberg keeps file sizes and column statistics, no content hash.

Two writers: two processes append one interval each to the same table at once. pyiceberg's
commit is optimistic (the catalog row's ``metadata_location`` is swapped only if it is still
the one the writer started from); since 0.12 an append retries a failed commit itself
(``commit.retry.num-retries``, default 4, with backoff), rebuilding only its manifests. Each
writer reports how many retries it needed, counted from pyiceberg's own retry warnings. The
probe (``no_retry_probe``) does the same on a second table whose ``num-retries`` is 0: what
two writers at once do without that retry.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pyiceberg.io.pyarrow  # noqa: F401  (imported here, not inside the first timed step)
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

TABLE = "bench.order_items"
PROBE = "bench.order_items_no_retry"
RETRY_WARNING = "Commit failed due to a concurrent update"


def catalog_uri(database: str) -> str:
    """The SQLAlchemy URL of a database on the machine's PostgreSQL (trust auth)."""
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"


def _properties(spec: dict[str, Any]) -> dict[str, str]:
    data = spec["data"]
    warehouse = data if data.startswith("s3://") else Path(data).resolve().as_uri()
    props = {"uri": spec["uri"], "warehouse": warehouse}
    if data.startswith("s3://"):
        env = spec["env"]
        props |= {
            "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
            "s3.endpoint": env["PIPELINES_S3_ENDPOINT"],
            "s3.access-key-id": env["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": env["AWS_SECRET_ACCESS_KEY"],
            "s3.region": env["AWS_REGION"],
        }
    return props


@contextmanager
def iceberg_catalog(spec: dict[str, Any]) -> Iterator[SqlCatalog]:
    """The SQL catalog (a new SQLAlchemy engine, closed on exit)."""
    catalog = SqlCatalog("bench", **_properties(spec))
    try:
        yield catalog
    finally:
        catalog.engine.dispose()


@contextmanager
def iceberg_table(spec: dict[str, Any], name: str = TABLE) -> Iterator[Table]:
    with iceberg_catalog(spec) as catalog:
        yield catalog.load_table(name)


def iceberg_open(spec: dict[str, Any]) -> None:
    with iceberg_table(spec):
        pass


def _snapshot_properties(spec: dict[str, Any], k: int, rows: int) -> dict[str, str]:
    """The manifest's content (strings only: Iceberg's snapshot summary is a string map)."""
    return {
        "partition": f"dt=2026-01-{k:02d}",
        "source": Path(spec["inputs"][k - 1]).name,
        "rows": str(rows),
    }


def iceberg_write(spec: dict[str, Any], k: int, name: str = TABLE) -> None:
    """Append interval ``k`` (creating the table on the first write)."""
    arrow = pq.read_table(spec["inputs"][k - 1])
    with iceberg_catalog(spec) as catalog:
        catalog.create_namespace_if_not_exists("bench")
        table = catalog.create_table_if_not_exists(name, schema=arrow.schema)
        table.append(arrow, snapshot_properties=_snapshot_properties(spec, k, arrow.num_rows))


def _duckdb(sql: str, arrow: pa.Table) -> list[Any]:
    with duckdb.connect() as con:
        con.register("t", arrow)
        return con.execute(sql.replace("{t}", "t")).fetchall()


def iceberg_scan(spec: dict[str, Any]) -> list[Any]:
    """count(*) and sum(price) over every row: ``price`` into Arrow, aggregated in DuckDB."""
    with iceberg_table(spec) as table:
        arrow = table.scan(selected_fields=("price",)).to_arrow()
    return _duckdb("SELECT count(*), sum(price) FROM {t}", arrow)


def iceberg_lookup(spec: dict[str, Any], key: str) -> list[Any]:
    """Every column of the rows of one ``order_id`` (pyiceberg's row filter, parsed from text:
    the key is an md5 hex string)."""
    with iceberg_table(spec) as table:
        arrow = table.scan(row_filter=f"order_id == '{key}'").to_arrow()
    return _duckdb("SELECT * FROM {t}", arrow)


def iceberg_first_snapshot(spec: dict[str, Any]) -> int:
    """The snapshot whose properties name the first interval."""
    with iceberg_table(spec) as table:
        ids = [
            s.snapshot_id
            for s in table.snapshots()
            if s.summary is not None and s.summary["partition"] == "dt=2026-01-01"
        ]
    return min(ids)


def iceberg_count_as_of(spec: dict[str, Any], snapshot_id: int) -> int:
    with iceberg_table(spec) as table:
        return table.scan(snapshot_id=snapshot_id).count()


def iceberg_count(spec: dict[str, Any], name: str = TABLE) -> int:
    with iceberg_table(spec, name) as table:
        return table.scan().count()


def iceberg_size(spec: dict[str, Any]) -> int:
    """Bytes of the current snapshot's data files (metadata files not counted)."""
    with iceberg_table(spec) as table:
        sizes = table.inspect.files()["file_size_in_bytes"].to_pylist()
    return int(sum(sizes))


# --- several writers --------------------------------------------------------------------


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(RETRY_WARNING):
            self.retries += 1


def _writer(spec: dict[str, Any], k: int, name: str, report: str) -> None:
    """One writer process: append interval ``k``; write what happened to ``report``."""
    counter = _RetryCounter()
    logging.getLogger("pyiceberg").addHandler(counter)
    outcome: dict[str, Any] = {"interval": k}
    try:
        iceberg_write(spec, k, name)
        outcome["landed"] = True
    except Exception as exc:  # the outcome is the measurement: recorded, not raised
        outcome |= {"landed": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    outcome["retries"] = counter.retries
    Path(report).write_text(json.dumps(outcome))


def iceberg_writers(
    spec: dict[str, Any], intervals: tuple[int, int], name: str = TABLE
) -> list[dict[str, Any]]:
    """Two processes appending at once; each one's outcome and retries."""
    ctx = multiprocessing.get_context("spawn")
    reports = [Path(spec["reports"]) / f"writer-{name}-{k}.json" for k in intervals]
    for report in reports:
        report.unlink(missing_ok=True)
    procs = [
        ctx.Process(target=_writer, args=(spec, k, name, str(report)))
        for k, report in zip(intervals, reports, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [
        json.loads(r.read_text()) if r.exists() else {"landed": False, "exit": p.exitcode}
        for r, p in zip(reports, procs, strict=True)
    ]


def no_retry_probe(spec: dict[str, Any], intervals: tuple[int, int]) -> dict[str, Any]:
    """Two writers at once on a table with ``commit.retry.num-retries`` 0: the bare protocol.

    The table first gets a small seed snapshot (1,000 rows), so the race is the usual one
    (appending to a table that has a current snapshot), not the creation of its first.
    """
    seed = pq.read_table(spec["inputs"][0]).slice(0, 1000)
    with iceberg_catalog(spec) as catalog:
        catalog.create_namespace_if_not_exists("bench")
        table = catalog.create_table(
            PROBE, schema=seed.schema, properties={"commit.retry.num-retries": "0"}
        )
        table.append(seed, snapshot_properties={"partition": "seed"})
    writers = iceberg_writers(spec, intervals, PROBE)
    return {"writers": writers, "rows": iceberg_count(spec, PROBE), "seed rows": seed.num_rows}


IMPORTS = "duckdb, pyarrow, pyiceberg.catalog.sql, pyiceberg.io.pyarrow, pyiceberg.table"
