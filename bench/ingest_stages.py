"""Where ingestion's time goes: per table, the bare baseline against the pipeline's stages.

    python -m bench.ingest --items 10000000 --workdir .data/bench-10m   # generates the data
    python -m bench.ingest_stages --workdir .data/bench-10m [--tables orders,order_items]

Reuses the landing tree of ``bench.ingest``. In one process, table after table in load
order: the baseline's ``COPY`` of the table (as in ``bench.ingest``), then ``ingest_table``
with its stage timings (:attr:`pipelines.ingest.run.IngestResult.stages`): ``read`` (parse,
protect, type, check, stage), ``key_checks``, ``write`` (Parquet), ``seal`` (hashes,
manifest). Wall and CPU seconds (all threads) per table; the ratio is the pipeline's over the
baseline's. ``--streamed`` sends every table through the streaming loader (what ingestion did
before tables without PII were loaded in one statement). Tables are measured one at a time, so the sum differs a little from
``bench.ingest``'s phases (one process each, imports included).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

from bench.ingest import ROOT, _landing_files, _next, _warm, baseline_copy


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True, help="a bench.ingest work dir")
    parser.add_argument("--tables", help="comma-separated tables (default: all, load order)")
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="load every table through the streaming loader, even those without PII that "
        "ingestion loads in one statement (to compare the two)",
    )
    args = parser.parse_args(argv)

    import duckdb

    from pipelines.contracts import load_contracts
    from pipelines.ingest import ingest_table
    from pipelines.ingest import run as ingest_run
    from pipelines.ingest.landing import file_format
    from pipelines.lake.interval import Interval
    from pipelines.protection import KeyRing
    from pipelines.settings import Settings

    landing = args.workdir / "landing"
    if not (landing / "_generation.json").exists():
        raise SystemExit(f"no generated landing data in {landing}: run bench.ingest first")
    settings = Settings(data_dir=args.workdir / "stages", landing_dir=landing)
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    baseline_dir = settings.data_dir / "baseline"
    baseline_dir.mkdir(parents=True)
    contracts = load_contracts(ROOT / "contracts")
    keyring = KeyRing.generate(note="benchmark key ring")
    days = sorted(p.name for p in landing.iterdir() if p.is_dir())
    interval = Interval.parse(days[0], _next(days[-1]))
    wanted = args.tables.split(",") if args.tables else contracts.load_order()
    if args.streamed:
        ingest_run.can_load_direct = lambda contract, scans: False
    _warm(landing)
    con = duckdb.connect()
    totals = [0.0, 0.0]
    print(f"{'table':<18} {'rows':>11} {'baseline':>9} {'pipeline':>9} {'ratio':>6}  stages (s)")
    for table in contracts.load_order():  # parents first: foreign keys need them
        stem = contracts[table].source.file_stem
        files = [str(p) for p in _landing_files(landing) if file_format(p.name, stem)]
        started = time.perf_counter()
        if table in wanted and files:
            baseline_copy(con, files, baseline_dir / f"{table}.parquet")
        baseline = time.perf_counter() - started
        cpu = _cpu()
        result = ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
        if table not in wanted:
            continue
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result.stages.items())
        totals[0] += baseline
        totals[1] += result.seconds
        print(
            f"{table:<18} {result.counts.read:>11,} {baseline:>8.1f}s {result.seconds:>8.1f}s "
            f"{result.seconds / max(baseline, 1e-9):>5.2f}x  {stages}; "
            f"CPU {_cpu() - cpu:.1f}s",
            flush=True,
        )
    print(
        f"{'total':<18} {'':>11} {totals[0]:>8.1f}s {totals[1]:>8.1f}s "
        f"{totals[1] / max(totals[0], 1e-9):>5.2f}x  peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
