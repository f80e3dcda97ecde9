"""Benchmark: ingestion into a local lake against ingestion into a lake on S3, in one run.

    python -m bench.lake_s3 --items 1000000 --repeat 2

The landing tree of :mod:`bench.ingest` (N order items and their tables, csv.gz), ingested
over one interval for every table in load order, twice per round, interleaved:

* ``local``: the embedded default, the lake in a local folder (rename swap);
* ``s3``: ``lake_url`` on moto's standalone S3 server on localhost (started here), i.e.
  content-addressed data objects then the manifest, and the foreign-key lookups and
  verified reads of parent partitions through httpfs.

Each run is a child process (``bench.ingest``'s pipeline phase, bytecode cached); an S3 run
writes under a fresh prefix. The best run of each side is compared. moto is an in-memory
server on the same machine: the S3 numbers measure the protocol and the extra copies, not a
network. Results are printed and written to ``bench/results/lake-s3-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.ingest import (
    ROOT,
    _busy_cpu_seconds,
    _warm,
    ensure_landing,
    machine,
    run_phase,
    warm_imports_env,
)


def _run(workdir: Path, threads: int | None, env: dict[str, str]) -> dict:
    busy = _busy_cpu_seconds()
    result = run_phase("pipeline", workdir, threads, env=env)
    result["other_cpu_seconds"] = round(
        max(0.0, _busy_cpu_seconds() - busy - result["cpu_seconds"]), 1
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="order items to generate")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, help="DuckDB threads")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, sides interleaved")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-<items>")
    args = parser.parse_args(argv)
    workdir = args.workdir or ROOT / ".data" / f"bench-{args.items}"
    workdir.mkdir(parents=True, exist_ok=True)
    ensure_landing(workdir, args.items, args.seed, args.days)
    _warm(workdir / "landing")
    env = warm_imports_env(workdir)
    runs: dict[str, list[dict]] = {"local": [], "s3": []}
    with ExitStack() as stack:
        from tests.s3server import start_s3_server

        (workdir / "moto").mkdir(exist_ok=True)
        s3 = stack.enter_context(start_s3_server(workdir / "moto"))
        for round_ in range(max(1, args.repeat)):
            local_env = {k: v for k, v in env.items() if k != "PIPELINES_LAKE_URL"}
            runs["local"].append(_run(workdir, args.threads, local_env))
            s3_env = {
                **env,
                **s3.env(),
                "PIPELINES_LAKE_URL": f"s3://{s3.bucket}/bench-{round_}",
            }
            runs["s3"].append(_run(workdir, args.threads, s3_env))
    local, remote = (min(runs[n], key=lambda r: r["seconds"]) for n in ("local", "s3"))
    report = {
        "items": args.items,
        "local": local,
        "s3": remote,
        "ratio": round(remote["seconds"] / local["seconds"], 2),
        "cpu_ratio": round(remote["cpu_seconds"] / local["cpu_seconds"], 2),
        "runs": runs,
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"lake-s3-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    others = ", ".join(f"{n} {r['other_cpu_seconds']:.0f}s" for n in runs for r in runs[n])
    slowest = sorted(
        local["tables"],
        key=lambda t: remote["tables"][t]["seconds"] - local["tables"][t]["seconds"],
    )[-3:]
    print(
        f"rows read: {local['rows']:,} (local) / {remote['rows']:,} (s3)\n"
        f"local lake: {local['seconds']:.1f}s ({local['cpu_seconds']:.1f}s CPU)\n"
        f"lake on S3 (moto, localhost): {remote['seconds']:.1f}s ({remote['cpu_seconds']:.1f}s "
        f"CPU)\nratio s3/local: {report['ratio']:.2f}x (CPU {report['cpu_ratio']:.2f}x; best of "
        f"{max(1, args.repeat)}; CPU of other processes during each run: {others})\n"
        "largest differences: "
        + ", ".join(
            f"{t} {local['tables'][t]['seconds']:.1f}s -> {remote['tables'][t]['seconds']:.1f}s"
            for t in slowest
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
