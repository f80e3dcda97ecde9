"""Benchmark: what checking source types and offsets costs (issue #12).

    python -m bench.source_types --values 2000000 --lines 500000

1. **Timestamp typing**, one DuckDB thread, over ``--values`` canonical timestamp texts
   (``2018-01-01 08:43:07``, what every landing file holds): the expression ingestion used
   before (``TRY_CAST`` to ``TIMESTAMP``, which drops offsets) against
   :func:`~pipelines.ingest.timestamps.timestamp_expr` for a UTC source and for a source
   declaring ``America/Sao_Paulo`` (conversion and daylight-saving checks through ICU).
2. **The JSON reader's first pass**, over ``--lines`` generated order item lines: the key
   scan alone (before) against the key scan plus the value kinds of every contract column
   (:func:`~pipelines.ingest.readers._open_jsonl`, one ``json_type`` call per line).

Best of ``--repeat`` runs each, alternating.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from pipelines.contracts import Source, load_contracts
from pipelines.ingest.landing import LandingFile
from pipelines.ingest.readers import _JSON_OBJECT, _json_lines
from pipelines.ingest.timestamps import timestamp_expr
from pipelines.settings import Settings
from pipelines.sql import json_path


def _best(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def typing(values: int, repeat: int) -> dict[str, float]:
    con = duckdb.connect(config={"threads": 1})
    con.execute(
        "CREATE TABLE t AS SELECT strftime(TIMESTAMP '2018-01-01' + INTERVAL (i) SECOND, "
        f"'%Y-%m-%d %H:%M:%S') AS v FROM range({values}) r(i)"
    )
    exprs = {
        "before (offset dropped)": "coalesce(TRY_CAST(v AS TIMESTAMP), "
        "TRY_CAST(trim(v) AS TIMESTAMP))",
        "UTC source": timestamp_expr("v", Source(file_stem="x")),
        "America/Sao_Paulo source": timestamp_expr(
            "v", Source(file_stem="x", timezone="America/Sao_Paulo")
        ),
    }
    return _best(
        {
            n: lambda e=e: con.execute(f"SELECT count({e}) FROM t").fetchone()
            for n, e in exprs.items()
        },
        repeat,
    )


def json_pass(lines: int, repeat: int) -> dict[str, float]:
    contract = load_contracts(Settings().contracts_dir)["order_items"]
    folder = Path(tempfile.mkdtemp(prefix="bench-source-types-"))
    path = folder / "items.jsonl"
    with path.open("w") as fh:
        for i in range(lines):
            row = {c: str(i) for c in contract.column_names}
            row["price"], row["shipping_limit_date"] = "19.90", "2018-01-03 00:00:00"
            fh.write(json.dumps(row) + "\n")
    file = LandingFile(path, "items.jsonl", "jsonl", date(2018, 1, 1))
    con = duckdb.connect()
    scan = _json_lines(file)
    keys = "list_sort(list_distinct(flatten(list(json_keys(j)))))"
    paths = ", ".join(json_path(c) for c in contract.column_names)
    kinds = ", ".join(
        f"list_distinct(list(nullif(k[{i}], 'NULL')))" for i in range(1, len(contract.columns) + 1)
    )
    before = f"SELECT {keys} FROM {scan} AND {_JSON_OBJECT}"
    after = (
        f"SELECT {keys}, {kinds} FROM (SELECT j, json_type(j, [{paths}]) AS k FROM {scan} "
        f"AND {_JSON_OBJECT}) AS objects"
    )
    result = _best(
        {
            "keys only (before)": lambda: con.execute(before).fetchone(),
            "keys and kinds": lambda: con.execute(after).fetchone(),
        },
        repeat,
    )
    path.unlink()
    folder.rmdir()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=2_000_000)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for title, timings, count in (
        ("timestamp typing, 1 thread", typing(args.values, args.repeat), args.values),
        ("JSON first pass", json_pass(args.lines, args.repeat), args.lines),
    ):
        print(title)
        for name, seconds in timings.items():
            print(f"  {name:<28} {seconds:7.3f} s  {seconds / count * 1e6:6.2f} us each")


if __name__ == "__main__":
    main()
