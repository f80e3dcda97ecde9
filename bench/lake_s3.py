"""Benchmark: ingestion into a local lake, a lake on S3 and a DuckLake on S3, in one run.

    python -m bench.lake_s3 --items 1000000 --repeat 2

The landing tree of :mod:`bench.ingest` (N order items and their tables, csv.gz), ingested
over one interval for every table in load order, the sides interleaved in every round:

* ``local``: the embedded default, the lake in a local folder (rename swap);
* ``s3``: ``lake_url`` on moto's standalone S3 server on localhost (started here), i.e.
  content-addressed data objects then the manifest, and the foreign-key lookups and
  verified reads of parent partitions through httpfs;
* ``s3-ducklake``: the same store with ``lake_catalog_url`` set to a fresh database in the
  machine's PostgreSQL (created and dropped here): each partition's commit is a DuckLake
  transaction instead of ``manifest.json``.

After each ingestion a fresh process measures what a downstream task pays to read that
lake: listing every table's partitions (twice: the first pays the connection and, with a
catalog, attaching it), then one verified read of ``order_items`` (its files' SHA-256
checked, every column read once, the row count checked against the manifests). For
``s3-ducklake`` also the table's history and an as-of listing at its first commit, in the
same process. Then ``pipelines lake partitions --table order_items`` as its own process
(and for ``s3-ducklake`` ``pipelines lake history``), as an operator runs them.

Each run is a child process (bytecode cached); an S3 run writes under a fresh prefix. The
best run of each side is compared with ``local``. moto is an in-memory server on the same
machine: the S3 numbers measure the protocol and the extra copies, not a network. The load
average is kept with every run. Results are printed and written to
``bench/results/lake-s3-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bench.ingest import (
    ROOT,
    _busy_cpu_seconds,
    _child,
    _warm,
    ensure_landing,
    machine,
    run_phase,
    warm_imports_env,
)

SIDES = ("local", "s3", "s3-ducklake")
READ_TABLE = "order_items"
T = TypeVar("T")


def _timed(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = step()
    return value, round(time.perf_counter() - started, 3)


def _settings(workdir: Path, threads: int | None) -> Any:
    from pipelines.settings import Settings

    return Settings(
        data_dir=workdir / "pipeline", landing_dir=workdir / "landing", duckdb_threads=threads
    )


def _listing(store: Any) -> dict[str, list[Any]]:
    from pipelines.lake.partitions import partitions, tables

    return {t: partitions(store, t) for t in tables(store)}


def _verified_read(store: Any, parts: list[Any], threads: int | None) -> int:
    """Verify ``parts``' data files, then read every column of them once; the row count."""
    import duckdb

    from pipelines.lake.partitions import verified_data_files
    from pipelines.sql import sql_str

    files = verified_data_files(parts)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    store.prepare(con)
    listing = "[" + ", ".join(sql_str(f) for f in files) + "]"
    row = con.execute(f"SELECT count(*), max(COLUMNS(*)) FROM read_parquet({listing})").fetchone()
    con.close()
    return int(row[0]) if row else 0


def _as_of(store: Any, catalog: Any) -> dict[str, Any]:
    """The table's history, then a listing as of its first commit (time travel)."""
    from pipelines.lake.ducklake.history import history
    from pipelines.lake.partitions import partitions

    commits, history_s = _timed(lambda: history(catalog, READ_TABLE))
    if not commits:
        raise SystemExit(f"{READ_TABLE}: no commit in the catalog's history")
    first = commits[0].snapshot
    parts, as_of_s = _timed(lambda: partitions(store, READ_TABLE, snapshot=first))
    if [p.manifest.dataset_version for p in parts] != [commits[0].dataset_version]:
        raise SystemExit(f"{READ_TABLE}: the listing as of snapshot {first} is not its commit")
    return {"history_s": history_s, "as_of_s": as_of_s, "commits": len(commits)}


def phase_read(workdir: Path, threads: int | None) -> dict:
    """What a downstream task pays to read the lake, in a fresh process."""
    from pipelines.lake.storage import catalog_of, lake_store

    store = lake_store(_settings(workdir, threads))
    listed, list_first_s = _timed(lambda: _listing(store))
    _, list_again_s = _timed(lambda: _listing(store))
    parts = listed.get(READ_TABLE, [])
    rows, read_s = _timed(lambda: _verified_read(store, parts, threads))
    if not parts or rows != sum(p.manifest.counts.loaded for p in parts):
        raise SystemExit(f"{READ_TABLE}: {rows} rows read, not the manifests' loaded count")
    steps = {"list_first_s": list_first_s, "list_again_s": list_again_s, "read_s": read_s}
    catalog = catalog_of(store)
    if catalog is not None:
        steps |= _as_of(store, catalog)
    return {
        "tables": len(listed),
        "partitions": sum(len(p) for p in listed.values()),
        "rows": rows,
        **steps,
    }


PHASES = {"read": phase_read}


def _measured(
    phase: str, module: str, workdir: Path, threads: int | None, env: dict[str, str]
) -> dict:
    """One child process's result, with the whole process's wall seconds (interpreter start
    included), the CPU other processes used meanwhile and the load average after it."""
    busy, started = _busy_cpu_seconds(), time.perf_counter()
    result = run_phase(phase, workdir, threads, module=module, env=env)
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    result["other_cpu_seconds"] = round(
        max(0.0, _busy_cpu_seconds() - busy - result["cpu_seconds"]), 1
    )
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return result


def _cli(env: dict[str, str], command: str) -> float:
    """Wall seconds of ``pipelines lake COMMAND --table order_items`` as its own process."""
    cmd = [sys.executable, "-m", "pipelines", "lake", command, "--table", READ_TABLE]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    seconds = round(time.perf_counter() - started, 2)
    if done.returncode != 0 or f" {READ_TABLE}" not in done.stdout:
        raise SystemExit(f"pipelines lake {command} failed:\n{done.stderr[-4000:]}")
    return seconds


@contextmanager
def _side_env(
    side: str, env: dict[str, str], s3: Any, lock_url: str, prefix: str, workdir: Path
) -> Iterator[dict[str, str]]:
    """The environment of one run of ``side``. On the store, shared state and partitions are
    locked in PostgreSQL (``lock_url``, which a lake on a store requires); for ``s3-ducklake``
    the catalog is a fresh database, dropped on exit."""
    base = {k: v for k, v in env.items() if not k.startswith("PIPELINES_LAKE_")}
    base["PIPELINES_DATA_DIR"] = str(workdir / "pipeline")
    if side == "local":
        yield base
        return
    stored = {
        **base,
        **s3.env(),
        "PIPELINES_LAKE_URL": f"s3://{s3.bucket}/{prefix}",
        "PIPELINES_LOCK_URL": lock_url,
    }
    if side == "s3":
        yield stored
        return
    from tests.pgdb import temporary_database

    with temporary_database("bench_ducklake") as url:
        yield {**stored, "PIPELINES_LAKE_CATALOG_URL": url}


def _one_run(side: str, env: dict[str, str], workdir: Path, threads: int | None) -> dict:
    ingest = _measured("pipeline", "bench.ingest", workdir, threads, env)
    read = _measured("read", "bench.lake_s3", workdir, threads, env)
    run = {"ingest": ingest, "read": read, "partitions_cli_s": _cli(env, "partitions")}
    if side == "s3-ducklake":
        run["history_cli_s"] = _cli(env, "history")
    return run


def _rounds(workdir: Path, repeat: int, threads: int | None, env: dict[str, str]) -> dict:
    from tests.pgdb import temporary_database
    from tests.s3server import start_s3_server

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    with ExitStack() as stack:
        (workdir / "moto").mkdir(exist_ok=True)
        s3 = stack.enter_context(start_s3_server(workdir / "moto"))
        lock_url = stack.enter_context(temporary_database("bench_lock"))
        for round_ in range(max(1, repeat)):
            for side in SIDES:
                prefix = f"bench-{side}-{round_}"
                with _side_env(side, env, s3, lock_url, prefix, workdir) as side_env:
                    runs[side].append(_one_run(side, side_env, workdir, threads))
                print(f"round {round_ + 1} {side}: {_line(runs[side][-1])}", file=sys.stderr)
    return runs


def _line(run: dict) -> str:
    ingest, read = run["ingest"], run["read"]
    return (
        f"ingest {ingest['seconds']:.1f}s ({ingest['cpu_seconds']:.1f}s CPU), read "
        f"{read['process_seconds']:.1f}s, load {ingest['load_average'][0]:.1f}"
    )


def _best(runs: list[dict], kind: str) -> dict:
    key = "seconds" if kind == "ingest" else "process_seconds"
    return min((r[kind] for r in runs), key=lambda r: r[key])


def _summary(runs: dict[str, list[dict]]) -> dict:
    """Per side: the best ingestion and the best read, and their ratios to ``local``."""
    best = {s: {"ingest": _best(runs[s], "ingest"), "read": _best(runs[s], "read")} for s in SIDES}
    local = best["local"]
    for side in SIDES:
        ingest, read = best[side]["ingest"], best[side]["read"]
        best[side]["ratio"] = {
            "wall": round(ingest["seconds"] / local["ingest"]["seconds"], 2),
            "cpu": round(ingest["cpu_seconds"] / local["ingest"]["cpu_seconds"], 2),
            "read_wall": round(read["process_seconds"] / local["read"]["process_seconds"], 2),
            "read_cpu": round(read["cpu_seconds"] / local["read"]["cpu_seconds"], 2),
        }
        for cli in ("partitions_cli_s", "history_cli_s"):
            seconds = [r[cli] for r in runs[side] if cli in r]
            if seconds:
                best[side][cli] = min(seconds)
    return best


def _print(report: dict) -> None:
    print(f"rows read by ingestion: {report['sides']['local']['ingest']['rows']:,}")
    print("side | ingest wall s | CPU s | ratio wall/CPU | read process s | list 1st/2nd s | "
          "verified read s | read CPU s | `lake partitions` s | load")  # fmt: skip
    for side, best in report["sides"].items():
        ingest, read, ratio = best["ingest"], best["read"], best["ratio"]
        print(
            f"{side} | {ingest['seconds']:.1f} | {ingest['cpu_seconds']:.1f} | "
            f"{ratio['wall']:.2f}x/{ratio['cpu']:.2f}x | {read['process_seconds']:.2f} | "
            f"{read['list_first_s']:.3f}/{read['list_again_s']:.3f} | {read['read_s']:.3f} | "
            f"{read['cpu_seconds']:.2f} | {best['partitions_cli_s']:.2f} | "
            f"{ingest['load_average'][0]:.1f}"
        )
        if "history_s" in read:
            print(
                f"  {side}: history {read['history_s']:.3f}s ({read['commits']} commit), "
                f"as-of listing {read['as_of_s']:.3f}s, `pipelines lake history` "
                f"{best['history_cli_s']:.2f}s (process)"
            )


def _warm_env(workdir: Path) -> dict[str, str]:
    """:func:`bench.ingest.warm_imports_env`, with the read phase's and the CLI's imports
    compiled too (a single run would otherwise pay the compilation on one side only)."""
    env = warm_imports_env(workdir)
    imports = "bench.lake_s3, pipelines.lake.ducklake.history, pipelines.lake.stored, pipelines.cli"
    subprocess.run([sys.executable, "-c", f"import {imports}"], cwd=ROOT, env=env, check=True)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, help="DuckDB threads")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, sides interleaved")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-<items>")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = args.workdir or ROOT / ".data" / f"bench-{args.items}"
    if args.phase:
        _child(args.phase, workdir, args.threads, phases=PHASES)
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_landing(workdir, args.items, args.seed, args.days)
    _warm(workdir / "landing")
    runs = _rounds(workdir, args.repeat, args.threads, _warm_env(workdir))
    report = {
        "items": args.items,
        "repeat": max(1, args.repeat),
        "sides": _summary(runs),
        "runs": runs,
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"lake-s3-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
