"""Benchmark: the k-anonymity gate's SQL against pycanon on the same data.

    python -m bench.anonymity --snapshot <customer_features data.parquet> [--rounds 5]
    python -m bench.anonymity --lake <lake dir>          # people from lake.customers

``--snapshot``: a customer_features snapshot (quasi-identifiers state, zip prefix, age band;
l-diversity of ``favourite_category``). ``--lake``: one row per person of the lake's
``customers`` partitions (their state and zip prefix of the first record): what Olist
itself holds, without the synthetic profiles. Both tools compute k (and l) on the same
frame; the SQL side is :func:`pipelines.privacy.anonymity.evaluate` on DuckDB (the report
with smallest classes and proposals included when k is not met), pycanon's
``k_anonymity`` / ``l_diversity`` on a pandas frame (NULLs as one value, as SQL groups them).
Median seconds of ``--rounds`` runs each; results agree or the run fails.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from pycanon import anonymity

from pipelines.privacy.anonymity import Policy, evaluate


def _people_from_lake(lake: Path) -> pd.DataFrame:
    frame: pd.DataFrame = duckdb.sql(
        f"SELECT customer_unique_id, min(customer_state) AS customer_state, "
        f"min(customer_zip3) AS customer_zip3 FROM read_parquet('{lake}/customers/*/data.parquet') "
        "GROUP BY 1"
    ).df()
    return frame


def _timed(fn: Any, rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def run(frame: pd.DataFrame, qi: list[str], sensitive: list[str], rounds: int) -> dict[str, Any]:
    frame = frame[[*qi, *sensitive]].fillna("(null)")
    con = duckdb.connect()
    con.register("people", frame)
    policy = Policy("bench", tuple(qi), sensitive=tuple(sensitive))
    sql_s, result = _timed(lambda: evaluate(con, "people", policy), rounds)
    bare = Policy("bench", tuple(qi), k=1, sensitive=tuple(sensitive), l=1)  # passes: no report
    sql_k_s, _ = _timed(lambda: evaluate(con, "people", bare), rounds)
    canon_k_s, k = _timed(lambda: anonymity.k_anonymity(frame, qi), rounds)
    canon_l_s, l_value = (0.0, None)
    if sensitive:
        canon_l_s, l_value = _timed(lambda: anonymity.l_diversity(frame, qi, sensitive), rounds)
    assert result.k == k, (result.k, k)
    if sensitive:
        assert result.l_values[sensitive[0]] == l_value, (result.l_values, l_value)
    return {
        "rows": len(frame),
        "classes": result.classes,
        "k": k,
        "l": l_value,
        "rows_below_5": result.below_k,
        "sql_seconds_with_report": round(sql_s, 4),
        "sql_seconds_k_l_only": round(sql_k_s, 4),
        "pycanon_seconds": round(canon_k_s + canon_l_s, 4),
        "plan": result.plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path)
    parser.add_argument("--lake", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.snapshot:
        frame = duckdb.sql(f"SELECT * FROM read_parquet('{args.snapshot}')").df()
        print(
            run(
                frame,
                ["customer_state", "customer_zip3", "age_band"],
                ["favourite_category"],
                args.rounds,
            )
        )
    if args.lake:
        print(
            run(_people_from_lake(args.lake), ["customer_state", "customer_zip3"], [], args.rounds)
        )


if __name__ == "__main__":
    main()
