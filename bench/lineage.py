"""Benchmark: the cost of publishing OpenLineage events, relative to the work they describe.

    python -m bench.lineage --items 1000000 [--rounds 2]

Uses the landing data of ``bench.ingest`` (generated if missing, same layout and seed). One
*run* is what ``commerce_daily`` does for the data: ``pipelines.tasks.ingest`` for every
table in load order, then ``pipelines.quality.tasks.validate`` for every table, over one
interval covering all delivery days, through the same task functions the DAG calls (so the
lineage wrappers are the ones that run in production). Runs alternate between lineage
**off** (``OPENLINEAGE_DISABLED=true``) and **on** (the default JSON-lines file transport),
``--rounds`` times each, every run in its own process, in the same data directory (a run
replaces the partitions of the previous one with identical content).

Reported: the median seconds of each mode and their ratio (the target is at most 1.05); from
the *on* runs the time spent inside lineage itself (building and writing events, measured
around the emitter's calls, the background START included), the events and bytes written;
and the seconds a fresh process takes to load the lineage code (the OpenLineage client loads
every transport it has), which an executor running each task in its own process pays per
task. Results go to
``bench/results/lineage-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.ingest import START, ensure_landing, machine

ROOT = Path(__file__).resolve().parents[1]


def _env(workdir: Path, threads: int | None, lineage: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env.update(
        PIPELINES_DATA_DIR=str(workdir / "lineage-bench"),
        PIPELINES_LANDING_DIR=str(workdir / "landing"),
        PIPELINES_KEY_FILE=str(workdir / "lineage-bench-keys.json"),
        PIPELINES_DUCKDB_MEMORY_LIMIT="8GB",
    )
    env.pop("PIPELINES_KEYS", None)
    env.pop("PIPELINES_SETTINGS_FILE", None)
    if threads:
        env["PIPELINES_DUCKDB_THREADS"] = str(threads)
    if not lineage:
        env["OPENLINEAGE_DISABLED"] = "true"
    return env


def _instrument() -> dict[str, float]:
    """Time spent in lineage: wrap the emitter's entry points (on runs only)."""
    from pipelines.lineage import emit

    spent = {"seconds": 0.0, "calls": 0}
    depth = [0]

    def timed(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent["seconds"] += time.perf_counter() - started
                    spent["calls"] += 1

        return wrapper

    for name in ("start", "complete", "fail"):
        setattr(emit.TaskLineage, name, timed(getattr(emit.TaskLineage, name)))
    return spent


def child(days: int) -> dict[str, Any]:
    """One run of the DAG's ingestion and quality tasks, in this process."""
    from pipelines import tasks
    from pipelines.contracts import load_contracts
    from pipelines.lineage import client
    from pipelines.quality import tasks as quality_tasks
    from pipelines.settings import Settings

    settings = Settings()
    on = not client.disabled()
    spent = _instrument() if on else None
    events = client.events_path(settings)
    before = events.stat().st_size if events.exists() else 0
    lines_before = sum(1 for _ in events.open()) if events.exists() else 0
    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    end = start + timedelta(days=days)
    run_id = f"bench__{time.time_ns()}"
    order = load_contracts(settings.contracts_dir).load_order()
    started = time.perf_counter()
    rows = 0
    for table in order:
        rows += tasks.ingest(table, start, end, run_id)["read"]
    ingest_seconds = time.perf_counter() - started
    for table in order:
        quality_tasks.validate(table, start, end, run_id)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "lineage": on,
        "seconds": round(seconds, 2),
        "ingest_seconds": round(ingest_seconds, 2),
        "rows": rows,
    }
    if spent is not None:
        after = events.stat().st_size if events.exists() else 0
        result.update(
            lineage_seconds=round(spent["seconds"], 3),
            lineage_calls=spent["calls"],
            events=(sum(1 for _ in events.open()) if events.exists() else 0) - lines_before,
            event_bytes=after - before,
            lineage_errors=sum(1 for _ in client.errors_path(settings).open())
            if client.errors_path(settings).exists()
            else 0,
        )
    return result


def import_cost() -> dict[str, Any]:
    """Seconds a fresh task process spends loading lineage code (OpenLineage client included),
    after what an ingestion task loads anyway."""
    import pipelines.ingest
    import pipelines.settings

    started = time.perf_counter()
    import openlineage.client  # noqa: F401

    import pipelines.ingest.lineage
    import pipelines.quality.lineage  # noqa: F401

    return {"import_seconds": round(time.perf_counter() - started, 3)}


def run(workdir: Path, days: int, threads: int | None, lineage: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.lineage", "--child", "--days", str(days)]
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        env=_env(workdir, threads, lineage),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"run failed (lineage {'on' if lineage else 'off'}):\n{done.stderr[-4000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    parser.add_argument("--days", type=int, default=7, help="delivery days to spread them over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode (alternating)")
    parser.add_argument("--threads", type=int, help="DuckDB threads")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-<items>")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--import-cost", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.days)))
        return 0
    if args.import_cost:
        print(json.dumps(import_cost()))
        return 0

    workdir = args.workdir or ROOT / ".data" / f"bench-{args.items}"
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_landing(workdir, args.items, args.seed, args.days)
    keys = workdir / "lineage-bench-keys.json"
    if not keys.exists():
        from pipelines.protection import create_keyring

        create_keyring(keys)
    # a first, unmeasured run: page cache warm, lake and quality history in place
    print("warm-up run (not measured) ...", file=sys.stderr)
    run(workdir, args.days, args.threads, lineage=False)
    runs: list[dict[str, Any]] = []
    for i in range(args.rounds):
        for lineage in (False, True) if i % 2 == 0 else (True, False):
            result = run(workdir, args.days, args.threads, lineage)
            print(
                f"round {i + 1}: lineage {'on ' if lineage else 'off'} {result['seconds']:.1f}s",
                file=sys.stderr,
            )
            runs.append(result)
    imports = [
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.lineage", "--import-cost"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )["import_seconds"]
        for _ in range(3)
    ]
    off = [r["seconds"] for r in runs if not r["lineage"]]
    on = [r for r in runs if r["lineage"]]
    ratio = statistics.median(r["seconds"] for r in on) / statistics.median(off)
    inside = statistics.median(r["lineage_seconds"] / r["seconds"] for r in on)
    report = {
        "items": args.items,
        "rows_read": runs[0]["rows"],
        "rounds": args.rounds,
        "runs": runs,
        "median_seconds_off": round(statistics.median(off), 2),
        "median_seconds_on": round(statistics.median(r["seconds"] for r in on), 2),
        "ratio_on_off": round(ratio, 4),
        "lineage_share_measured": round(inside, 4),
        "import_seconds_per_process": statistics.median(imports),
        "events_per_run": on[0]["events"],
        "event_bytes_per_run": on[0]["event_bytes"],
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"lineage-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{args.items:,} order items ({report['rows_read']:,} rows read), ingestion + quality of "
        f"every table, {args.rounds} run(s) per mode:\n"
        f"lineage off: median {report['median_seconds_off']:.1f}s; "
        f"on: median {report['median_seconds_on']:.1f}s; ratio {ratio:.3f} "
        f"({(ratio - 1) * 100:+.1f}%)\n"
        f"time inside lineage (measured): {inside * 100:.2f}% of the run; "
        f"{report['events_per_run']} events, {report['event_bytes_per_run'] / 1024:.0f} KiB per run\n"
        f"loading the lineage code in a fresh process: {report['import_seconds_per_process']:.2f}s "
        "(once per process; per task with a process-per-task executor, where the background "
        "START overlaps it with the task's work)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
