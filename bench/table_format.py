"""Benchmark: the lake's table format, today's lake against DuckLake and Iceberg, in one run.

    python -m bench.table_format --items 1000000 --repeat 2 [--no-s3] [--sides lake,...]

Sides (run interleaved, each from an empty table, in every round):

* ``lake``: today's lake. One partition per interval published as now: the partition lock,
  a staging folder, ``data.parquet`` (zstd), fsync, the swap by rename, the file's SHA-256 in
  a manifest; reads verify every file's SHA-256 first (``verified_data_files``' cost).
* ``ducklake-local``: DuckLake, catalog in the machine's PostgreSQL (database
  ``storage_bench_local``), data files on local disk. Each interval is one transaction: the
  insert plus ``set_commit_message`` carrying the manifest's content as the snapshot's
  ``extra_info``.
* ``ducklake-s3``: the same with the data files on an S3-compatible server (moto's
  standalone server on localhost, started here; credentials from the environment).
* ``iceberg-local`` / ``iceberg-s3``: pyiceberg with a SQL catalog in PostgreSQL
  (``bench/table_format_iceberg.py`` says how each step is done there).

Per side: ``import (new process)`` (what a task process imports, timed in a fresh
interpreter), ``write 1`` (the first interval's N order items into an empty table),
``write 2`` (append a second interval), ``open`` (a connection: for DuckLake, loading the
extensions and attaching the catalog; for Iceberg, the catalog and the table; every other
step pays it again, as every task would), ``full scan`` (count and sum over every row),
``key lookup`` (one ``order_id``), ``as-of`` (the table as of the first commit: the
format's time travel; the lake's nearest equivalent is reading the first interval's
partition, since it keeps one version per partition), ``2 writers`` (two processes each
committing one more interval to the same table at once; both must land) and the data's
size. Input: two (four, with the concurrent writers) intervals of generated order items in
the Olist ``order_items`` shape, written once to Parquet before the timings.

Results are printed and written to ``bench/results/table-format-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.hashing import file_sha256
from pipelines.lake.extensions import load_extensions, s3_secret_from_env
from pipelines.lake.publish import partition_lock, staged_partition
from pipelines.sql import sql_str

ROOT = Path(__file__).resolve().parents[1]
PG = "host=127.0.0.1 user=postgres"
ITEMS_SQL = """
SELECT md5('order' || ((i + {offset}) // 2)::VARCHAR) AS order_id,
       ((i + {offset}) % 2 + 1)::INTEGER AS order_item_id,
       md5('product' || (i % 32951)::VARCHAR) AS product_id,
       md5('seller' || (i % 3095)::VARCHAR) AS seller_id,
       TIMESTAMP '2026-01-01' + INTERVAL ({k}) DAY + to_seconds(i % 86400) AS shipping_limit_date,
       round(10 + (i * 7919 % 100000) / 100.0, 2)::DECIMAL(10, 2) AS price,
       round((i * 104729 % 5000) / 100.0, 2)::DECIMAL(10, 2) AS freight_value
FROM range({n}) t(i)
"""
SCAN_SQL = "SELECT count(*), sum(price) FROM {t}"
COUNT_SQL = "SELECT count(*) FROM {t}"
LOOKUP_SQL = "SELECT * FROM {{t}} WHERE order_id = '{key}'"


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )


def make_inputs(workdir: Path, items: int, intervals: int) -> list[Path]:
    src = workdir / "source"
    src.mkdir(parents=True, exist_ok=True)
    paths = []
    with _con() as con:
        for k in range(1, intervals + 1):
            path = src / f"items-{k}.parquet"
            if not path.exists():
                sql = ITEMS_SQL.format(offset=(k - 1) * items, n=items, k=k)
                con.execute(f"COPY ({sql}) TO {sql_str(str(path))} (COMPRESSION zstd)")
            paths.append(path)
    return paths


# --- today's lake -----------------------------------------------------------------------


def lake_write(spec: dict[str, Any], k: int) -> None:
    table_dir = Path(spec["root"]) / "order_items"
    partition = f"dt=2026-01-{k:02d}"
    with partition_lock(table_dir, partition), staged_partition(table_dir, partition) as st:
        data = st / "data.parquet"
        with _con() as con:
            con.execute(
                f"COPY (SELECT * FROM read_parquet({sql_str(spec['inputs'][k - 1])})) "
                f"TO {sql_str(str(data))} (COMPRESSION zstd)"
            )
            rows = con.execute(f"SELECT count(*) FROM {sql_str(str(data))}").fetchone()
        manifest = {"partition": partition, "rows": rows[0] if rows else 0}
        manifest["dataset_version"] = file_sha256(data)
        (st / "manifest.json").write_text(json.dumps(manifest))


def _lake_files(spec: dict[str, Any], only: str | None = None) -> list[str]:
    """Every partition's data file (or only ``only``'s), verified against its manifest."""
    table_dir = Path(spec["root"]) / "order_items"
    files = []
    for folder in sorted(table_dir.glob("dt=*")):
        if only and folder.name != only:
            continue
        manifest = json.loads((folder / "manifest.json").read_text())
        data = folder / "data.parquet"
        if file_sha256(data) != manifest["dataset_version"]:
            raise RuntimeError(f"{data} does not match its manifest")
        files.append(str(data))
    return files


def lake_query(spec: dict[str, Any], sql: str, only: str | None = None) -> list[Any]:
    files = ", ".join(sql_str(f) for f in _lake_files(spec, only))
    with _con() as con:
        return con.execute(sql.replace("{t}", f"read_parquet([{files}])")).fetchall()


def lake_size(spec: dict[str, Any]) -> int:
    return sum(p.stat().st_size for p in (Path(spec["root"]) / "order_items").rglob("*.parquet"))


# --- DuckLake ---------------------------------------------------------------------------


def _reset_database(name: str) -> None:
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, timeout=60
        )


@contextmanager
def ducklake(spec: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = _con()
    load_extensions(con)
    if spec["data"].startswith("s3://"):
        s3_secret_from_env(con, spec["env"])
    catalog = sql_str(f"ducklake:postgres:dbname={spec['database']} {PG}")
    con.execute(f"ATTACH {catalog} AS dl (DATA_PATH {sql_str(spec['data'])})")
    try:
        yield con
    finally:
        con.close()


def _open(spec: dict[str, Any]) -> None:
    with ducklake(spec):
        pass


def ducklake_write(spec: dict[str, Any], k: int) -> None:
    source = sql_str(spec["inputs"][k - 1])
    extra = json.dumps({"partition": f"dt=2026-01-{k:02d}", "source": Path(source).name})
    with ducklake(spec) as con:
        if k == 1:  # the lake's compression, for a like-for-like size
            con.execute("CALL dl.set_option('parquet_compression', 'zstd')")
        con.execute("BEGIN")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS dl.order_items AS "
            f"SELECT * FROM read_parquet({source}) LIMIT 0"
        )
        con.execute(f"INSERT INTO dl.order_items SELECT * FROM read_parquet({source})")
        con.execute(
            f"CALL dl.set_commit_message('bench', 'interval {k}', extra_info => {sql_str(extra)})"
        )
        con.execute("COMMIT")


def ducklake_query(spec: dict[str, Any], sql: str, version: int | None = None) -> list[Any]:
    with ducklake(spec) as con:
        at = f" AT (VERSION => {version})" if version is not None else ""
        return con.execute(sql.replace("{t}", f"dl.order_items{at}")).fetchall()


def ducklake_first_version(spec: dict[str, Any]) -> int:
    with ducklake(spec) as con:
        row = con.execute(
            "SELECT min(snapshot_id) FROM dl.snapshots() WHERE commit_message = 'interval 1'"
        ).fetchone()
    return int(row[0]) if row else 0


def ducklake_size(spec: dict[str, Any]) -> int:
    with ducklake(spec) as con:
        row = con.execute(
            "SELECT sum(data_file_size_bytes) FROM ducklake_list_files('dl', 'order_items')"
        ).fetchone()
    return int(row[0]) if row and row[0] else 0


# --- the run ----------------------------------------------------------------------------


def _timed(results: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    value = fn()
    results[name] = round(time.perf_counter() - started, 3)
    return value


def _writer(kind: str, spec: dict[str, Any], k: int) -> None:
    (lake_write if kind == "lake" else ducklake_write)(spec, k)


def concurrent_writers(kind: str, spec: dict[str, Any], intervals: tuple[int, int]) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(kind, spec, k)) for k in intervals]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{kind}: a concurrent writer failed (exit codes {failed})")


@dataclass(frozen=True)
class Side:
    """One table format's steps, each opening its own connection or catalog."""

    open: Callable[[], Any]
    write: Callable[[int], Any]
    scan: Callable[[], list[Any]]  # [(count, sum of price)]
    lookup: Callable[[str], list[Any]]  # the rows of one order_id
    first_version: Callable[[], Any]  # what ``as_of`` needs (untimed)
    as_of: Callable[[Any], int]  # the row count as of the first write
    writers: Callable[[tuple[int, int]], Any]  # two processes writing at once
    size: Callable[[], int]
    imports: str = "duckdb"  # what a task of this side imports


def import_seconds(modules: str) -> float:
    """Seconds to import ``modules`` in a new interpreter (what every task process pays)."""
    code = f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=300
    )
    return round(float(out.stdout.strip()), 3)


def _count(rows: list[Any]) -> int:
    return int(rows[0][0])


def lake_side(spec: dict[str, Any]) -> Side:
    return Side(
        open=lambda: _con().close(),
        write=lambda k: lake_write(spec, k),
        scan=lambda: lake_query(spec, SCAN_SQL),
        lookup=lambda key: lake_query(spec, LOOKUP_SQL.format(key=key)),
        first_version=lambda: "dt=2026-01-01",
        as_of=lambda v: _count(lake_query(spec, COUNT_SQL, v)),
        writers=lambda ks: concurrent_writers("lake", spec, ks),
        size=lambda: lake_size(spec),
    )


def ducklake_side(spec: dict[str, Any]) -> Side:
    return Side(
        open=lambda: _open(spec),
        write=lambda k: ducklake_write(spec, k),
        scan=lambda: ducklake_query(spec, SCAN_SQL),
        lookup=lambda key: ducklake_query(spec, LOOKUP_SQL.format(key=key)),
        first_version=lambda: ducklake_first_version(spec),
        as_of=lambda v: _count(ducklake_query(spec, COUNT_SQL, v)),
        writers=lambda ks: concurrent_writers("ducklake", spec, ks),
        size=lambda: ducklake_size(spec),
    )


def iceberg_side(spec: dict[str, Any]) -> Side:
    from bench import table_format_iceberg as ice

    return Side(
        open=lambda: ice.iceberg_open(spec),
        write=lambda k: ice.iceberg_write(spec, k),
        scan=lambda: ice.iceberg_scan(spec),
        lookup=lambda key: ice.iceberg_lookup(spec, key),
        first_version=lambda: ice.iceberg_first_snapshot(spec),
        as_of=lambda v: ice.iceberg_count_as_of(spec, v),
        writers=lambda ks: ice.iceberg_writers(spec, ks),
        size=lambda: ice.iceberg_size(spec),
        imports=ice.IMPORTS,
    )


SIDES: dict[str, Callable[[dict[str, Any]], Side]] = {
    "lake": lake_side,
    "ducklake": ducklake_side,
    "iceberg": iceberg_side,
}


def run_side(kind: str, spec: dict[str, Any], items: int) -> dict[str, Any]:
    """Every step of one side, timed, from an empty table; the row counts checked."""
    side = SIDES[kind](spec)
    r: dict[str, Any] = {"import (new process)": import_seconds(side.imports)}
    key = duckdb.sql("SELECT md5('order' || 12345)").fetchone()[0]  # type: ignore[index]
    _timed(r, "write 1", lambda: side.write(1))
    _timed(r, "write 2", lambda: side.write(2))
    _timed(r, "open", side.open)  # after the writes: Iceberg loads the table, which exists now
    scan = _timed(r, "full scan", side.scan)
    found = _timed(r, "key lookup", lambda: side.lookup(key))
    first = side.first_version()
    as_of = _timed(r, "as-of", lambda: side.as_of(first))
    writers = _timed(r, "2 writers", lambda: side.writers((3, 4)))
    if writers is not None:
        r["writers"] = writers
    r["rows"] = {"after 2": scan[0][0], "as-of 1": as_of, "after 4": _count(side.scan())}
    r["lookup rows"] = len(found)
    r["bytes"] = side.size()
    expected = {"after 2": 2 * items, "as-of 1": items, "after 4": 4 * items}
    if r["rows"] != expected:
        raise RuntimeError(f"{kind}: rows {r['rows']}, expected {expected}")
    return r


def _specs(workdir: Path, inputs: list[Path], s3: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    paths = [str(p) for p in inputs]
    local = {"inputs": paths}
    remote = {"inputs": paths, "env": s3.env()} if s3 is not None else None
    iceberg = {"reports": str(workdir)}
    specs: dict[str, tuple[str, dict[str, Any]]] = {
        "lake": ("lake", {"root": str(workdir / "lake")} | local),
        "ducklake-local": (
            "ducklake",
            {"database": "storage_bench_local", "data": str(workdir / "ducklake") + "/"} | local,
        ),
    }
    if remote is not None:
        specs["ducklake-s3"] = (
            "ducklake",
            {"database": "storage_bench_s3", "data": f"s3://{s3.bucket}/ducklake/"} | remote,
        )
    specs["iceberg-local"] = (
        "iceberg",
        _iceberg_spec("iceberg_bench_local", str(workdir / "iceberg")) | iceberg | local,
    )
    if remote is not None:
        specs["iceberg-s3"] = (
            "iceberg",
            _iceberg_spec("iceberg_bench_s3", f"s3://{s3.bucket}/iceberg") | iceberg | remote,
        )
    return specs


def _iceberg_spec(database: str, data: str) -> dict[str, Any]:
    from bench.table_format_iceberg import catalog_uri

    return {"database": database, "uri": catalog_uri(database), "data": data}


def _reset(name: str, spec: dict[str, Any]) -> None:
    if "database" in spec:
        _reset_database(spec["database"])
    for key in ("root", "data"):
        if key in spec and not spec[key].startswith("s3://"):
            shutil.rmtree(spec[key], ignore_errors=True)
            Path(spec[key]).mkdir(parents=True)


def _no_retry_probe(spec: dict[str, Any]) -> dict[str, Any]:
    from bench.table_format_iceberg import no_retry_probe

    return no_retry_probe(spec, (3, 4))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="order items per interval")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, sides interleaved")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 sides (no moto)")
    parser.add_argument("--sides", default="", help="comma-separated side names (default: all)")
    args = parser.parse_args()
    workdir = args.workdir or ROOT / ".data" / f"bench-table-format-{args.items}"
    inputs = make_inputs(workdir, args.items, 4)
    out: dict[str, Any] = {"items": args.items, "load before": _load(), "rounds": []}
    with ExitStack() as stack:
        s3 = None
        if not args.no_s3:
            from tests.s3server import start_s3_server

            (workdir / "moto").mkdir(exist_ok=True)
            s3 = stack.enter_context(start_s3_server(workdir / "moto"))
        specs = _specs(workdir, inputs, s3)
        if args.sides:
            specs = {name: specs[name] for name in args.sides.split(",")}
        for round_ in range(args.repeat):
            results = {}
            for name, (kind, spec) in specs.items():
                _reset(name, spec)
                results[name] = run_side(kind, spec, args.items)
                if name == "iceberg-local":  # the catalog protocol is the same on S3
                    results[name]["no-retry probe"] = _no_retry_probe(spec)
                print(round_, name, json.dumps(results[name]), flush=True)
            out["rounds"].append(results)
    out["load after"] = _load()
    target = ROOT / "bench" / "results" / f"table-format-{args.items}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
