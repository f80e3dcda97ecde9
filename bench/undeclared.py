"""Benchmark: what sampling kept columns for undeclared PII costs at ingestion.

    python -m bench.undeclared [--rows 1000000] [--files 7] [--repeat 3]

Builds a staged table the way ingestion holds one (``order_items``-shaped: three kept text
columns of 32-hex ids, provenance, ``_reasons``) in DuckDB, then times, ``--repeat`` times:

* ``rowid_stride``: 1,000 rows per file by ``rowid = ANY(<exact stride>)`` (reads the table);
* ``system_sample``: :func:`pipelines.ingest.undeclared._sample` on the whole load (whole
  vectors at random above ``STRIDE_BELOW`` rows; what ingestion does);
* ``check_columns``: the whole check (sample, prefilter, detectors), after one warm-up call
  that imports the detectors' libraries.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from pipelines.contracts import load_contracts
from pipelines.ingest.undeclared import (
    StagedFile,
    _fetch,
    _sample,
    _sample_ids,
    check_columns,
)
from pipelines.settings import PROJECT_DIR


def _staged(rows: int, files: int) -> tuple[duckdb.DuckDBPyConnection, list[StagedFile]]:
    per = -(-rows // files)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE staged AS SELECT md5(i::VARCHAR) AS order_id, "
        "md5((i * 7)::VARCHAR) AS product_id, md5((i % 3000)::VARCHAR) AS seller_id, "
        "NULL::VARCHAR[] AS _reasons, NULL::JSON AS _record, "
        f"'d/f' || (i // {per}) AS _source_file, i % {per} + 1 AS _source_row "
        f"FROM range({rows}) t(i)"
    )
    return con, [StagedFile(f"d/f{k}", k * per, min(per, rows - k * per)) for k in range(files)]


def _best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    contract = load_contracts(Path(PROJECT_DIR / "contracts"))["order_items"]
    columns = contract.sampled_columns
    con, files = _staged(args.rows, args.files)
    ids = _sample_ids(files, contract.undeclared_pii.sample_rows)
    check_columns(con, contract, files)  # imports phonenumbers and tarja once
    results = {
        "rowid_stride": _best(lambda: _fetch(con, columns, "_id = ANY($ids)", {"ids": ids}), 3),
        "system_sample": _best(lambda: _sample(con, columns, files, 1000), args.repeat),
        "check_columns": _best(lambda: check_columns(con, contract, files), args.repeat),
    }
    print(f"{args.rows:,} staged rows in {args.files} files, best of {args.repeat}:")
    for name, seconds in results.items():
        print(f"  {name:<14} {seconds * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
