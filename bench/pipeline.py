"""Benchmark: the whole pipeline (ingestion, quality gate, feature build) against bare DuckDB
doing the same work, stage by stage, in one run.

    python -m bench.pipeline --items 1000000
    python -m bench.pipeline --items 10000000 --workdir .data/bench-pipeline-10m

It chains the three stage benchmarks on one generated data set, each stage's two sides in
their own processes (so each peak RSS is its own), alternating, after the stage's input was
read once (page cache warm):

1. **ingestion** (``bench.ingest``): the pipeline (contracts, row checks, foreign keys, PII
   protection, manifests, atomic publish) against DuckDB reading the landing ``csv.gz``
   files and writing one Parquet file per table (``bench.ingest``'s baseline: DuckDB's type
   auto-detection, not the contracts' casts, and no foreign-key joins: a cheaper baseline
   than the same work, so this ratio overstates the pipeline's overhead);
2. **quality gate** (``bench.quality``), on the lake the pipeline just wrote: the gate's
   suites through Great Expectations against the same checks as plain DuckDB SQL (the GX
   import, a fixed cost per process, is reported apart);
3. **feature build** (``bench.features``), on the same lake: ``dbt build`` (21 models, the
   data tests and unit tests) against the SQL dbt compiled, run on one DuckDB connection.
   Both at ``--memory-limit`` (default 3GB, the pipeline's default ``duckdb_memory_limit``):
   the dbt side's peak RSS is the dbt process's.

Per stage: seconds of each side, the ratio, CPU seconds and peak RSS; then the totals. The
machine is shared: the load average is noted before and after, and ``--repeat R`` keeps the
fastest of R runs per side. Results: printed, and ``bench/results/pipeline-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _best(runs: list[dict[str, Any]], key: str = "seconds") -> dict[str, Any]:
    return min(runs, key=lambda r: float(r[key]))


def _alternate(sides: tuple[str, str], run: Any, repeat: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    for _ in range(max(1, repeat)):
        for side in sides:
            started = time.perf_counter()
            result = run(side)
            result.setdefault("process_wall_seconds", round(time.perf_counter() - started, 2))
            out[side].append(result)
            print(f"  {side}: {float(result['seconds']):.1f}s", file=sys.stderr)
    return out


def stage_ingest(workdir: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from bench.ingest import run_phase

    runs = _alternate(
        ("baseline", "pipeline"),
        lambda side: run_phase(side, workdir, args.threads, env=env),
        args.repeat,
    )
    bare, ours = _best(runs["baseline"]), _best(runs["pipeline"])
    return _stage(bare, ours, "seconds", runs)


def stage_quality(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from bench.quality import run_phase

    runs = _alternate(
        ("sql", "gx"), lambda side: run_phase(side, workdir, args.threads), args.repeat
    )
    bare, ours = _best(runs["sql"], "validate_seconds"), _best(runs["gx"], "validate_seconds")
    stage = _stage(bare, ours, "validate_seconds", runs)
    stage["pipeline_import_seconds"] = ours.get("import_seconds")
    return stage


def stage_features(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from bench.features import AS_OF
    from bench.features import _run as run_phase

    phase_args = argparse.Namespace(
        as_of=AS_OF, memory_limit=args.memory_limit, threads=args.threads
    )
    # dbt first: the bare side runs the SQL dbt compiled (its manifest)
    runs = _alternate(
        ("dbt", "bare"), lambda side: run_phase(side, workdir, phase_args), args.repeat
    )
    bare, ours = _best(runs["bare"]), _best(runs["dbt"])
    if bare["rows"] != ours["rows"]:
        raise SystemExit(f"feature rows differ: dbt {ours['rows']}, bare {bare['rows']}")
    stage = _stage(bare, ours, "seconds", {"bare": runs["bare"], "pipeline": runs["dbt"]})
    stage["memory_limit"] = args.memory_limit
    stage["feature_rows"] = ours["rows"]
    return stage


def _stage(
    bare: dict[str, Any], ours: dict[str, Any], key: str, runs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "bare_seconds": float(bare[key]),
        "pipeline_seconds": float(ours[key]),
        "ratio": round(float(ours[key]) / float(bare[key]), 2),
        "bare_peak_rss_mb": bare.get("peak_rss_mb"),
        "pipeline_peak_rss_mb": ours.get("peak_rss_mb"),
        "bare_cpu_seconds": bare.get("cpu_seconds"),
        "pipeline_cpu_seconds": ours.get("cpu_seconds"),
        "runs": runs,
    }


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _report_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        f"{report['items']:,} order items; load average {report['load_before']} -> "
        f"{report['load_after']}"
    ]
    lines.append(
        f"{'stage':<14}{'bare s':>9}{'pipeline s':>12}{'ratio':>7}"
        f"{'bare RSS MB':>13}{'pipeline RSS MB':>17}"
    )
    for name, stage in report["stages"].items():
        lines.append(
            f"{name:<14}{stage['bare_seconds']:>9.1f}{stage['pipeline_seconds']:>12.1f}"
            f"{stage['ratio']:>6.2f}x{stage['bare_peak_rss_mb'] or 0:>13.0f}"
            f"{stage['pipeline_peak_rss_mb'] or 0:>17.0f}"
        )
    total = report["total"]
    lines.append(
        f"{'total':<14}{total['bare_seconds']:>9.1f}{total['pipeline_seconds']:>12.1f}"
        f"{total['ratio']:>6.2f}x"
    )
    q = report["stages"]["quality gate"]
    lines.append(
        f"quality gate: validation only; importing GX took {q['pipeline_import_seconds']}s more. "
        f"feature build at memory_limit {report['stages']['feature build']['memory_limit']}."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.features import _warm as warm_lake
    from bench.ingest import _warm as warm_landing
    from bench.ingest import ensure_landing, machine, warm_imports_env

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    parser.add_argument("--days", type=int, default=7, help="delivery days to spread them over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, help="DuckDB threads for every phase")
    parser.add_argument(
        "--memory-limit", default="3GB", help="DuckDB memory_limit of the feature build"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the fastest counts")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-pipeline-<items>")
    args = parser.parse_args(argv)
    workdir = args.workdir or ROOT / ".data" / f"bench-pipeline-{args.items}"
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = _loadavg()
    generation = ensure_landing(workdir, args.items, args.seed, args.days)
    warm_landing(workdir / "landing")
    env = warm_imports_env(workdir)
    stages: dict[str, dict[str, Any]] = {}
    print("ingestion ...", file=sys.stderr)
    stages["ingestion"] = stage_ingest(workdir, args, env)
    warm_lake(workdir / "pipeline" / "lake")
    print("quality gate ...", file=sys.stderr)
    stages["quality gate"] = stage_quality(workdir, args)
    print("feature build ...", file=sys.stderr)
    stages["feature build"] = stage_features(workdir, args)
    bare = sum(s["bare_seconds"] for s in stages.values())
    ours = sum(s["pipeline_seconds"] for s in stages.values())
    report = {
        "items": args.items,
        "rows_per_table": generation.get("counts"),
        "load_before": load_before,
        "load_after": _loadavg(),
        "stages": stages,
        "total": {
            "bare_seconds": round(bare, 2),
            "pipeline_seconds": round(ours, 2),
            "ratio": round(ours / bare, 2),
        },
        "repeat": args.repeat,
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pipeline-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(_report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
