"""Benchmark: the quality gate (Great Expectations on DuckDB) against bare DuckDB SQL.

    python -m bench.ingest --items 1000000      # first: the lake of N generated order items
    python -m bench.quality --items 1000000

Both phases validate the lake tables written by ``bench.ingest`` (``.data/bench-<items>/
pipeline/lake``, one partition per table) with the *same checks*: the suites the gate
builds (:func:`pipelines.quality.suites.build_suite`: contract-derived, freshness, business
rules, representativeness; drift has no previous batch here).

* **gx**: :func:`pipelines.quality.runner.validate_partition` per table, as the DAG runs
  it: GX's SQL path over DuckDB views, results and statistics stored, no rows to quarantine
  (the generated data is clean; quarantine is switched off so the lake is not modified).
* **sql**: the same checks as hand-written DuckDB SQL, generated from the same check list:
  one aggregate query per table (``count(*) FILTER (WHERE ...)`` for every row rule, min/max),
  plus one query per key, foreign key, rule query and segment count; statistics computed
  with the same pure functions. No GX, no result objects, nothing stored.

Each phase runs in its own process after a warm-up read of the lake files; the GX import
(a fixed ~10 s on these machines) is reported apart and not counted in the ratio. Results
go to ``bench/results/quality-<items>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _settings(workdir: Path, threads: int | None) -> Any:
    from pipelines.settings import Settings

    return Settings(
        data_dir=workdir / "pipeline",
        landing_dir=workdir / "landing",
        duckdb_threads=threads,
        duckdb_memory_limit="8GB",
    )


def _lake_partitions(settings: Any) -> dict[str, Any]:
    from pipelines.contracts import load_contracts
    from pipelines.lake.partitions import partitions

    contracts = load_contracts(settings.contracts_dir)
    found = {}
    for table in contracts.load_order():
        parts = partitions(settings.lake, table)
        if len(parts) != 1:
            raise SystemExit(
                f"{settings.lake / table}: expected one partition (run `python -m bench.ingest` first)"
            )
        found[table] = parts[0]
    return found


def _aggregate(spec: Any) -> str | None:
    """A ``count(*) FILTER`` / aggregate expression for a row-level check, else None."""
    from pipelines.sql import q, sql_literal

    kw, t = spec.kwargs, spec.type
    if t == "expect_table_row_count_to_equal" or t == "expect_table_row_count_to_be_between":
        return "count(*)"
    if t == "expect_column_values_to_not_be_null":
        return f"count(*) FILTER (WHERE {q(kw['column'])} IS NULL)"
    if t == "expect_column_values_to_match_regex":
        c = q(kw["column"])
        return f"count(*) FILTER (WHERE {c} IS NOT NULL AND NOT regexp_matches({c}, {sql_literal(kw['regex'])}))"
    if t == "expect_column_values_to_be_in_set":
        c = q(kw["column"])
        values = ", ".join(sql_literal(v) for v in kw["value_set"])
        return f"count(*) FILTER (WHERE {c} IS NOT NULL AND {c} NOT IN ({values}))"
    if t == "expect_column_values_to_be_between":
        c = q(kw["column"])
        parts = []
        if kw.get("min_value") is not None:
            parts.append(f"{c} < {sql_literal(kw['min_value'])}")
        if kw.get("max_value") is not None:
            parts.append(f"{c} > {sql_literal(kw['max_value'])}")
        return f"count(*) FILTER (WHERE {' OR '.join(parts)})"
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = q(kw["column_A"]), q(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        return f"count(*) FILTER (WHERE {a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b}))"
    if t == "expect_column_max_to_be_between":
        return f"max({q(kw['column'])})"
    return None


def _query(spec: Any, table: str) -> str | None:
    """A separate query for checks that are not one aggregate of the table."""
    from pipelines.sql import q

    kw, t = spec.kwargs, spec.type
    if t == "expect_column_values_to_be_unique":
        c = q(kw["column"])
        return f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {q(table)} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)"
    if t == "expect_compound_columns_to_be_unique":
        cols = ", ".join(q(c) for c in kw["column_list"])
        return f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {q(table)} GROUP BY {cols} HAVING count(*) > 1)"
    if t == "expect_unexpected_rows_to_be_at_most":
        return f"SELECT count(*) FROM ({kw['unexpected_rows_query'].replace('{batch}', q(table))})"
    if t == "expect_column_shares_to_match_reference":
        c = q(kw["column"])
        return f"SELECT CAST({c} AS VARCHAR), count(*) FROM {q(table)} GROUP BY 1"
    if t == "expect_table_column_types_to_match":
        return f"DESCRIBE SELECT * FROM {q(table)}"
    return None


def _suites(settings: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from pipelines.contracts import load_contracts
    from pipelines.quality.suites import build_suite

    contracts = load_contracts(settings.contracts_dir)
    parts = _lake_partitions(settings)
    suites = {
        t: build_suite(
            contracts[t],
            contracts,
            p.interval,
            loaded=p.manifest.counts.loaded,
            read=p.manifest.counts.read,
        )
        for t, p in parts.items()
    }
    return contracts, parts, suites


def phase_sql(workdir: Path, threads: int | None) -> dict:
    """The same checks as bare DuckDB SQL."""
    from pipelines.quality import engine, stats
    from pipelines.quality.runner import _create_views

    settings = _settings(workdir, threads)
    contracts, parts, suites = _suites(settings)
    per_table = {}
    checks = 0
    queries = 0
    started = time.perf_counter()
    for table, suite in suites.items():
        t0 = time.perf_counter()
        con = engine.connect(settings.duckdb_memory_limit, settings.duckdb_threads)
        _create_views(con, settings, contracts, suite, parts[table])
        aggregates = [(s, _aggregate(s)) for s in suite.specs]
        exprs = [a for _, a in aggregates if a]
        if exprs:
            con.execute(f'SELECT {", ".join(exprs)} FROM "{table}"').fetchall()
            queries += 1
        for spec in suite.specs:
            sql = _query(spec, table)
            if sql is None:
                continue
            rows = con.execute(sql).fetchall()
            queries += 1
            if spec.type == "expect_column_shares_to_match_reference" and spec.kwargs["reference"]:
                counts: dict[str, int] = {}
                for value, n in rows:
                    key = value if value in spec.kwargs["reference"] else stats.OTHER
                    counts[key] = counts.get(key, 0) + int(n)
                stats.compare(counts, spec.kwargs["reference"])
        checks += len(suite.specs)
        con.close()
        per_table[table] = round(time.perf_counter() - t0, 2)
    return {
        "checks": checks,
        "queries": queries,
        "validate_seconds": round(time.perf_counter() - started, 2),
        "tables": per_table,
    }


def phase_gx(workdir: Path, threads: int | None) -> dict:
    """The gate as the DAG runs it: GX's SQL path on DuckDB, results stored."""
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401

    from pipelines.quality.runner import validate_partition

    import_seconds = time.perf_counter() - t0
    settings = _settings(workdir, threads)
    contracts, parts, _ = _suites(settings)
    per_table = {}
    outcomes = {"passed": 0, "warned": 0, "failed": 0}
    checks = 0
    started = time.perf_counter()
    for table, part in parts.items():
        t1 = time.perf_counter()
        result = validate_partition(
            table,
            part.interval,
            settings,
            run_id=f"bench-{workdir.name}",
            contracts=contracts,
            quarantine_rows=False,
        )
        per_table[table] = round(time.perf_counter() - t1, 2)
        checks += len(result.checks)
        for key in outcomes:
            outcomes[key] += result.count(key)
    return {
        "checks": checks,
        "outcomes": outcomes,
        "import_seconds": round(import_seconds, 2),
        "validate_seconds": round(time.perf_counter() - started, 2),
        "tables": per_table,
    }


PHASES = {"sql": phase_sql, "gx": phase_gx}


def run_phase(name: str, workdir: Path, threads: int | None) -> dict:
    from bench.ingest import run_phase as run_child_phase

    return run_child_phase(name, workdir, threads, module="bench.quality")


def _child(name: str, workdir: Path, threads: int | None) -> None:
    import logging

    logging.disable(logging.WARNING)
    started = time.perf_counter()
    result = PHASES[name](workdir, threads)
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def _warm(lake: Path) -> int:
    size = 0
    for path in lake.rglob("*.parquet"):
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 24):
                size += len(chunk)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000, help="order items (bench.ingest)")
    parser.add_argument("--threads", type=int, help="DuckDB threads for both phases")
    parser.add_argument("--repeat", type=int, default=1, help="alternate the phases N times")
    parser.add_argument("--workdir", type=Path, help="default .data/bench-<items>")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = args.workdir or ROOT / ".data" / f"bench-{args.items}"
    if args.phase:
        _child(args.phase, workdir, args.threads)
        return 0
    lake = workdir / "pipeline" / "lake"
    if not lake.is_dir():
        raise SystemExit(
            f"no lake in {lake}: run `python -m bench.ingest --items {args.items}` first"
        )
    from bench.ingest import machine

    lake_bytes = _warm(lake)
    runs = []
    for _ in range(max(1, args.repeat)):
        sql = run_phase("sql", workdir, args.threads)
        gx = run_phase("gx", workdir, args.threads)
        runs.append(
            {
                "sql": sql,
                "gx": gx,
                "ratio": round(gx["validate_seconds"] / sql["validate_seconds"], 2),
            }
        )
    best_sql = min(r["sql"]["validate_seconds"] for r in runs)
    best_gx = min(r["gx"]["validate_seconds"] for r in runs)
    rows = {}
    for part in _lake_partitions(_settings(workdir, args.threads)).values():
        rows[part.table] = part.manifest.counts.loaded
    report = {
        "items": args.items,
        "lake_rows": rows,
        "lake_bytes": lake_bytes,
        "runs": runs,
        "best_sql_seconds": best_sql,
        "best_gx_seconds": best_gx,
        "ratio": round(best_gx / best_sql, 2),
        "machine": machine(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"quality-{args.items}.json").write_text(json.dumps(report, indent=2) + "\n")
    last = runs[-1]
    print(
        f"lake: {sum(rows.values()):,} rows in {len(rows)} tables ({lake_bytes / 2**20:,.0f} MiB)\n"
        f"checks: {last['gx']['checks']} ({last['gx']['outcomes']})\n"
        f"bare DuckDB SQL, same checks ({last['sql']['queries']} queries): best {best_sql:.1f}s\n"
        f"GX gate (SQL path on DuckDB, results stored): best {best_gx:.1f}s "
        f"(+ {last['gx']['import_seconds']:.1f}s importing GX, not counted), "
        f"peak RSS {last['gx']['peak_rss_mb']:.0f} MB\n"
        f"ratio GX/SQL: {best_gx / best_sql:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
