"""Benchmark: building the feature tables with dbt against a bare DuckDB script, same run.

    python -m bench.features --items 1000000
    python -m bench.features --items 10000000 --workdir .data/bench-features-10m

1. Generates (or reuses) N order items of landing data and ingests them into a lake with
   the pipeline (``bench.ingest``'s pipeline phase: one partition per table), in its own
   work directory (default ``.data/bench-features-<items>``).
2. **dbt**: a fresh warehouse; ``register_lake`` (all partitions) and ``run_dbt(["build"])``
   as of ``--as-of``: 21 models, 76 data tests and the 10 dbt unit tests, exactly as
   ``pipelines warehouse build`` runs it (dbt in a child process: import, parse, run; a
   new ``run_id`` per build, as in production: passed outside ``--vars``, so from the second
   run on dbt reuses its parsed project, as the daily builds do).
3. **bare**: a fresh warehouse; the same ``register_lake``, then one DuckDB connection runs
   the SQL dbt compiled (taken from dbt's ``manifest.json``) in dependency order: views
   as ``CREATE VIEW``, the marts as ``CREATE TABLE AS`` (what dbt does on a first build of
   an incremental model), every data test as ``SELECT count(*) FROM (<test SQL>)``. Unit
   tests have no compiled SQL outside dbt and are dbt-only work.

Phases alternate (dbt, bare, dbt, bare, ...) in their own processes after the lake files
were read once; best of ``--repeat``. Results go to ``bench/results/features-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2018-02-15"  # after the generated week and (nearly all of) its deliveries and reviews


def _settings(workdir: Path, phase: str, threads: int | None, memory: str) -> Any:
    from pipelines.settings import Settings

    return Settings(
        data_dir=workdir / phase,
        lake_dir=workdir / "pipeline" / "lake",
        duckdb_threads=threads,
        duckdb_memory_limit=memory,
    )


def _fresh(settings: Any) -> None:
    for path in (settings.warehouse, settings.warehouse.with_name("warehouse.duckdb.wal")):
        path.unlink(missing_ok=True)


def _register(settings: Any) -> float:
    from pipelines.warehouse.build import register

    started = time.perf_counter()
    register(settings)
    return time.perf_counter() - started


def phase_dbt(workdir: Path, threads: int | None, memory: str, as_of: str) -> dict[str, Any]:
    from pipelines.warehouse.dbt import run_dbt

    settings = _settings(workdir, "dbt", threads, memory)
    _fresh(settings)
    started = time.perf_counter()
    register_s = _register(settings)
    # a new run id per build, as in production (outside --vars: the parsed project is reused)
    variables = {"as_of": as_of, "release_id": "bench", "run_id": f"bench-{time.time_ns()}"}
    result = run_dbt(["build"], settings, variables, echo=lambda _line: None)
    seconds = time.perf_counter() - started
    run_results = result.run_results or {}
    models = [n for n in result.nodes if n.resource_type == "model"]
    tests = [n for n in result.nodes if n.resource_type == "test"]
    units = [n for n in result.nodes if n.resource_type == "unit_test"]
    return {
        "seconds": round(seconds, 2),
        "register_seconds": round(register_s, 2),
        "dbt_process_seconds": round(result.seconds, 2),
        "dbt_execution_seconds": round(float(run_results.get("elapsed_time", 0.0)), 2),
        "models": len(models),
        "data_tests": len(tests),
        "unit_tests": len(units),
        "model_seconds": round(sum(n.seconds for n in models), 2),
        "data_test_seconds": round(sum(n.seconds for n in tests), 2),
        "unit_test_seconds": round(sum(n.seconds for n in units), 2),
        "slowest": sorted(
            ({"name": n.name, "seconds": round(n.seconds, 2)} for n in result.nodes),
            key=lambda x: -float(x["seconds"]),  # type: ignore[arg-type]
        )[:8],
        "manifest": str(result.manifest_path),
        "rows": _rows(settings, as_of),
    }


def _rows(settings: Any, as_of: str) -> dict[str, int]:
    from pipelines.warehouse.build import snapshot_rows

    return snapshot_rows(settings, date.fromisoformat(as_of))


def _compiled_plan(manifest_path: Path) -> list[tuple[str, str, str]]:
    """(kind, relation, compiled SQL) of every model and data test, in dependency order."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and node.get("compiled_code")
    }
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in nodes:
            return
        seen.add(uid)
        for parent in nodes[uid]["depends_on"]["nodes"]:
            visit(parent)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    plan = []
    for uid in order:
        node = nodes[uid]
        if node["resource_type"] == "model":
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            plan.append((kind, node["relation_name"], node["compiled_code"]))
        else:
            plan.append(("test", node["name"], node["compiled_code"]))
    return plan


def phase_bare(workdir: Path, threads: int | None, memory: str, as_of: str) -> dict[str, Any]:
    from pipelines.warehouse.build import connect

    settings = _settings(workdir, "bare", threads, memory)
    _fresh(settings)
    plan = _compiled_plan(workdir / "dbt" / "dbt" / "target" / "manifest.json")
    started = time.perf_counter()
    register_s = _register(settings)
    model_s = test_s = 0.0
    failing = []
    timings: list[tuple[float, str]] = []
    with connect(settings) as con:
        for schema in ("staging", "intermediate", "marts"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for kind, name, sql in plan:
            t0 = time.perf_counter()
            if kind == "test":
                row = con.execute(f"SELECT count(*) FROM ({sql}) AS t").fetchone()
                if row and row[0]:
                    failing.append(name)
                test_s += time.perf_counter() - t0
            else:
                con.execute(f"CREATE OR REPLACE {kind.upper()} {name} AS {sql}")
                model_s += time.perf_counter() - t0
            timings.append((time.perf_counter() - t0, name.split(".")[-1].strip('"')))
    seconds = time.perf_counter() - started
    if failing:
        raise SystemExit(f"bare phase: data tests failed: {', '.join(failing)}")
    return {
        "seconds": round(seconds, 2),
        "register_seconds": round(register_s, 2),
        "model_seconds": round(model_s, 2),
        "data_test_seconds": round(test_s, 2),
        "models": sum(1 for k, _, _ in plan if k != "test"),
        "data_tests": sum(1 for k, _, _ in plan if k == "test"),
        "slowest": [{"name": n, "seconds": round(s, 2)} for s, n in sorted(timings)[::-1][:8]],
        "rows": _rows(settings, as_of),
    }


PHASES = {"dbt": phase_dbt, "bare": phase_bare}


def _run(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import subprocess

    cmd = [sys.executable, "-m", "bench.features", "--phase", name, "--workdir", str(workdir)]
    cmd += ["--as-of", args.as_of, "--memory-limit", args.memory_limit]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} phase failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(args: argparse.Namespace) -> None:
    from pipelines.warehouse.dbt_child import stop_server

    started = time.perf_counter()
    result = PHASES[args.phase](args.workdir, args.threads, args.memory_limit, args.as_of)
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    own = resource.getrusage(resource.RUSAGE_SELF)
    stop_server()  # a forked dbt child counts in RUSAGE_CHILDREN once its server is waited for
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the dbt process
    result["cpu_seconds"] = round(
        own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 2
    )  # all threads: less sensitive to other jobs on the machine than wall time
    result["peak_rss_mb"] = round(max(own.ru_maxrss, kids.ru_maxrss) / 1024, 1)
    print(json.dumps(result))


def ensure_lake(workdir: Path, items: int, seed: int, days: int, threads: int | None) -> dict:
    """Landing data and its lake (bench.ingest's pipeline phase), reused when unchanged."""
    from bench.ingest import ensure_landing, run_phase

    generation = ensure_landing(workdir, items, seed, days)
    stamp = workdir / "pipeline" / "lake.generation"
    wanted = json.dumps(generation.get("arguments", {}), sort_keys=True)
    lake = workdir / "pipeline" / "lake"
    if not (lake.is_dir() and stamp.is_file() and stamp.read_text() == wanted):
        print(f"ingesting {items:,} order items into {lake} ...", file=sys.stderr)
        shutil.rmtree(lake, ignore_errors=True)
        run_phase("pipeline", workdir, threads, module="bench.ingest")
        stamp.write_text(wanted)
    else:
        print(f"reusing the lake in {lake}", file=sys.stderr)
    return generation


def _warm(lake: Path) -> int:
    total = 0
    for path in sorted(lake.rglob("*.parquet")):
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 24):
                total += len(chunk)
    return total


def main(argv: list[str] | None = None) -> int:
    from bench.ingest import machine

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, help="DuckDB threads for both phases")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit")
    parser.add_argument("--as-of", default=AS_OF, help=f"snapshot date (default {AS_OF})")
    parser.add_argument("--repeat", type=int, default=2, help="runs per phase; best counts")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-features-<items>")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workdir = args.workdir or ROOT / ".data" / f"bench-features-{args.items}"
    if args.phase:
        _child(args)
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    generation = ensure_lake(args.workdir, args.items, args.seed, args.days, args.threads)
    lake_bytes = _warm(args.workdir / "pipeline" / "lake")
    runs: dict[str, list[dict[str, Any]]] = {"dbt": [], "bare": []}
    for i in range(args.repeat):
        for name in ("dbt", "bare"):  # bare needs dbt's manifest
            runs[name].append(_run(name, args.workdir, args))
            print(f"run {i + 1} {name}: {runs[name][-1]['seconds']:.1f}s", file=sys.stderr)
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    dbt, bare = best["dbt"], best["bare"]
    if dbt["rows"] != bare["rows"]:
        raise SystemExit(f"row counts differ: dbt {dbt['rows']} bare {bare['rows']}")
    ratio = dbt["seconds"] / bare["seconds"]
    report = {
        "items": args.items,
        "as_of": args.as_of,
        "lake_bytes": lake_bytes,
        "rows_per_table": generation.get("rows"),
        "feature_rows": dbt["rows"],
        "dbt": dbt,
        "bare": bare,
        "all_runs": runs,
        "ratio": round(ratio, 2),
        # as if dbt's import, parse and artifact writing were free
        "ratio_execution_only": round(
            (dbt["register_seconds"] + dbt["dbt_execution_seconds"]) / bare["seconds"], 2
        ),
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"features-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"feature rows: {dbt['rows']}\n"
        f"bare DuckDB (same compiled SQL: {bare['models']} models, {bare['data_tests']} data "
        f"tests): {bare['seconds']:.1f}s (register {bare['register_seconds']:.1f}, models "
        f"{bare['model_seconds']:.1f}, tests {bare['data_test_seconds']:.1f}), peak RSS "
        f"{bare['peak_rss_mb']:.0f} MB\n"
        f"dbt build: {dbt['seconds']:.1f}s (register {dbt['register_seconds']:.1f}, dbt process "
        f"{dbt['dbt_process_seconds']:.1f} of which executing nodes "
        f"{dbt['dbt_execution_seconds']:.1f}: models {dbt['model_seconds']:.1f}, data tests "
        f"{dbt['data_test_seconds']:.1f}, unit tests {dbt['unit_test_seconds']:.1f})\n"
        f"ratio dbt/bare: {ratio:.2f}x (CPU seconds {dbt['cpu_seconds']:.0f} / "
        f"{bare['cpu_seconds']:.0f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
