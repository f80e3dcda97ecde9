"""Benchmark: what verifying lake files against their manifests costs readers.

    python -m bench.ingest --items 1000000            # first: the lake of N order items
    python -m bench.lake_verify --items 1000000 --repeat 5

Reads the lake written by ``bench.ingest`` (``.data/bench-<items>/pipeline/lake``, one
partition per table; ``--build`` ingests it here when missing) and times, best of R, each
read with and without verification (:func:`pipelines.lake.partitions.verified_data_file`: a
SHA-256 of the file compared with the manifest):

* ``hash``: the verification alone, per table (SHA-256 of ``data.parquet``);
* ``full scan``: every column of ``order_items`` into a DuckDB table (what a validation or a
  view scan reads);
* ``key lookup``: ``orders.order_id`` only (what a foreign-key check reads of a parent:
  Parquet lets DuckDB read one column, verification hashes the whole file);
* ``register``: ``register_lake`` over every table's partition, then a count of every view
  (the feature build's and provenance's way in);
* ``gate``: ``validate_partition("order_items")`` (GX; quarantine off so the lake is not
  changed), verification on and off by replacing the verifier with the unverified path.

Results are printed and written to ``bench/results/lake-verify-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _pair(
    name: str, read: Callable[[], Any], verify: Callable[[], Any], repeat: int
) -> dict[str, Any]:
    """Best of ``repeat`` for ``read`` alone and ``verify`` + ``read``, alternating."""
    plain, checked = [], []
    for _ in range(repeat):
        plain.append(_best(read, 1))
        checked.append(_best(lambda: (verify(), read()), 1))
    row = {
        "read": name,
        "plain_s": round(min(plain), 4),
        "verified_s": round(min(checked), 4),
        "ratio": round(min(checked) / min(plain), 3),
    }
    print(f"{name:<28} {row['plain_s']:>9.3f} s {row['verified_s']:>9.3f} s {row['ratio']:>7.2f}x")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--build", action="store_true", help="ingest the lake if it is missing")
    parser.add_argument("--no-gate", action="store_true", help="skip the GX validation pair")
    args = parser.parse_args()
    workdir = args.workdir or ROOT / ".data" / f"bench-{args.items}"

    import duckdb

    from bench.ingest import ensure_landing, phase_pipeline
    from pipelines.contracts import load_contracts
    from pipelines.hashing import file_sha256
    from pipelines.lake import partitions as lake
    from pipelines.settings import Settings

    settings = Settings(
        data_dir=workdir / "pipeline",
        landing_dir=workdir / "landing",
        duckdb_threads=args.threads,
        duckdb_memory_limit="8GB",
    )
    contracts = load_contracts(settings.contracts_dir)
    if not (settings.lake / "order_items").is_dir():
        if not args.build:
            raise SystemExit(f"no lake at {settings.lake}: run bench.ingest first, or --build")
        ensure_landing(workdir, args.items, seed=7, days=7)  # bench.ingest's defaults
        phase_pipeline(workdir, args.threads)
    parts = {t: lake.partitions(settings.lake, t)[0] for t in contracts.load_order()}
    sizes = {t: p.data_file.stat().st_size for t, p in parts.items()}
    for p in parts.values():  # page cache warm: both sides read from memory
        file_sha256(p.data_file)

    print(f"lake {settings.lake}: {sum(sizes.values()) / 2**20:.0f} MiB of data files")
    print(f"{'read':<28} {'plain':>11} {'verified':>11} {'ratio':>8}")
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    items, orders = parts["order_items"], parts["orders"]
    rows: list[dict[str, Any]] = []
    hashes = {
        t: round(_best(lambda p=p: file_sha256(p.data_file), args.repeat), 4)
        for t, p in parts.items()
    }
    rows.append(
        _pair(
            "full scan order_items",
            lambda: con.execute(
                f"CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_parquet('{items.data_file}')"
            ),
            lambda: lake.verified_data_file(items),
            args.repeat,
        )
    )
    rows.append(
        _pair(
            "key lookup orders.order_id",
            lambda: con.execute(
                f"SELECT count(DISTINCT order_id) FROM read_parquet('{orders.data_file}')"
            ).fetchone(),
            lambda: lake.verified_data_file(orders),
            args.repeat,
        )
    )

    from pipelines.warehouse.lake_views import register_lake

    def register() -> None:
        with duckdb.connect() as wh:
            wh.execute(f"SET threads = {args.threads}")
            register_lake(wh, {t: [p] for t, p in parts.items()}, contracts=contracts)
            for t in parts:
                wh.execute(f"SELECT count(*) FROM lake.{t}").fetchone()

    rows.append(_toggled("register_lake + count(*)", register, lake, args.repeat))
    if not args.no_gate:
        from pipelines.quality.runner import validate_partition

        def gate() -> None:
            validate_partition(
                "order_items",
                items.interval,
                settings,
                run_id="bench-verify",
                contracts=contracts,
                quarantine_rows=False,
            )

        gate()  # GX import and first-run costs stay out of both sides
        rows.append(_toggled("gate order_items (GX)", gate, lake, max(2, args.repeat // 2)))

    out = ROOT / "bench" / "results" / f"lake-verify-{args.items}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"items": args.items, "sizes": sizes, "hash_s": hashes, "pairs": rows}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("hash alone (s):", hashes)
    print(f"-> {out}")


def _toggled(name: str, run: Callable[[], None], lake: Any, repeat: int) -> dict[str, Any]:
    """``run`` with verification switched off (the verifier returns the path unread) and on."""
    verify = lake._verified

    def off() -> None:
        lake._verified = lambda part, path, expected: path
        try:
            run()
        finally:
            lake._verified = verify

    return _pair_on(name, run, off, repeat)


def _pair_on(name: str, on: Callable[[], None], off: Callable[[], None], repeat: int) -> dict:
    plain, checked = [], []
    for _ in range(repeat):
        plain.append(_best(off, 1))
        checked.append(_best(on, 1))
    row = {
        "read": name,
        "plain_s": round(min(plain), 4),
        "verified_s": round(min(checked), 4),
        "ratio": round(min(checked) / min(plain), 3),
    }
    print(f"{name:<28} {row['plain_s']:>9.3f} s {row['verified_s']:>9.3f} s {row['ratio']:>7.2f}x")
    return row


if __name__ == "__main__":
    main()
