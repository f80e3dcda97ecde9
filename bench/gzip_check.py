"""Benchmark: what reading a landing file to its end costs (SHA-256 + gzip verification).

    python -m bench.gzip_check [--rows 1000000] [--repeat 3] [--file PATH.csv.gz]

Without ``--file``, writes an ``order_items``-shaped ``.csv.gz`` of ``--rows`` records (random
hex ids like Olist's, so it compresses like the real file) to ``bench/results/``. Then times,
``--repeat`` times each, on a warm page cache:

* ``sha256``: what ingestion's hash thread did before (:func:`pipelines.hashing.file_sha256`);
* ``read_to_end``: what it does now, SHA-256 and streaming inflate (``zlib-ng``) with every gzip
  member's CRC-32 and length checked (:func:`pipelines.ingest.integrity.read_to_end`);
* ``duckdb_parse``: DuckDB reading the same file as text (``count(*)`` of ``read_csv``), the
  parse that ingestion runs meanwhile on another thread, for scale.
"""

from __future__ import annotations

import argparse
import gzip
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from pipelines.hashing import file_sha256
from pipelines.ingest.integrity import read_to_end
from pipelines.ingest.landing import LandingFile

RESULTS = Path(__file__).resolve().parent / "results"
HEADER = "order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value\n"


def _hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)]


def write_order_items(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    orders, products, sellers = _hex_ids(rng, rows), _hex_ids(rng, 30_000), _hex_ids(rng, 3_000)
    with gzip.open(path, "wt", compresslevel=6, newline="") as out:
        out.write(HEADER)
        chunk = 100_000
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            p = rng.integers(0, len(products), n)
            s = rng.integers(0, len(sellers), n)
            day = rng.integers(1, 28, n)
            price = rng.integers(500, 50_000, n)
            freight = rng.integers(0, 5_000, n)
            out.writelines(
                f"{orders[start + i]},1,{products[p[i]]},{sellers[s[i]]},"
                f"2018-01-{day[i]:02d} 10:00:00,{price[i] / 100:.2f},{freight[i] / 100:.2f}\n"
                for i in range(n)
            )


def _best(seconds: list[float]) -> str:
    return f"{min(seconds):.2f} s (runs: {', '.join(f'{s:.2f}' for s in seconds)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", type=Path, help="an existing .csv.gz instead")
    args = parser.parse_args()
    path = args.file or RESULTS / f"order_items-{args.rows}.csv.gz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_order_items(path, args.rows)
    file = LandingFile(path, path.name, "csv.gz", date.today())
    file_sha256(path)  # warm the page cache
    con = duckdb.connect()
    con.execute("SET threads = 1")
    timings: dict[str, list[float]] = {"sha256": [], "read_to_end": [], "duckdb_parse": []}
    for _ in range(args.repeat):
        for name, run in (
            ("sha256", lambda: file_sha256(path)),
            ("read_to_end", lambda: read_to_end(file)),
            (
                "duckdb_parse",
                lambda: con.execute(
                    f"SELECT count(*) FROM read_csv('{path}', all_varchar=true, header=true)"
                ).fetchone(),
            ),
        ):
            began = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - began)
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB compressed")
    for name, seconds in timings.items():
        print(f"  {name:<13} {_best(seconds)}")
    extra = min(timings["read_to_end"]) - min(timings["sha256"])
    print(f"  gzip check adds {extra:.2f} s on the hash thread (in parallel with the parse)")


if __name__ == "__main__":
    main()
