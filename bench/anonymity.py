"""Benchmark: the k-anonymity gate's SQL against pycanon on the same data.

    python -m bench.anonymity --snapshot <customer_features data.parquet> [--rounds 5]
    python -m bench.anonymity --lake <lake dir>          # people from lake.customers
    python -m bench.anonymity --olist-csv ../shared/data/olist_sample [--suppress]

``--snapshot``: a customer_features snapshot (quasi-identifiers state, zip prefix, age band;
l-diversity of ``favourite_category``). ``--lake``: one row per person of the lake's
``customers`` partitions (their state and zip prefix of the first record): what Olist
itself holds, without the synthetic profiles. Both tools compute k (and l) on the same
frame; the SQL side is :func:`pipelines.privacy.anonymity.evaluate` on DuckDB (the report
with smallest classes and proposals included when k is not met), pycanon's
``k_anonymity`` / ``l_diversity`` on a pandas frame (NULLs as one value, as SQL groups them).
Median seconds of ``--rounds`` runs each; results agree or the run fails.

``--suppress``: first apply the ``customer_features`` mart's rule (quasi-identifiers state
and age band; both ``*`` for people in classes below 5) to the frame: what the generalized
mart publishes, measured on an old snapshot or on the lake's people. ``suppressed`` counts
the rows it set to ``*``.
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

from pipelines.privacy.anonymity import DEFAULT_K, SUPPRESSED, Policy, evaluate

PUBLISHED_QI = ["customer_state", "age_band"]
"""The quasi-identifiers customer_features publishes (no zip prefix)."""


def suppress(frame: pd.DataFrame, qi: list[str], k: int = DEFAULT_K) -> pd.DataFrame:
    """The mart's k-anonymity by suppression: ``*`` for every QI of rows in classes < k."""
    frame = frame.copy()
    for c in qi:
        if c not in frame:
            frame[c] = None
    keys = frame[qi].astype("object").where(frame[qi].notna(), "(null)")
    size = keys.groupby(qi, dropna=False)[qi[0]].transform("size")
    frame.loc[size < k, qi] = SUPPRESSED
    return frame


def _people_from_lake(lake: Path) -> pd.DataFrame:
    frame: pd.DataFrame = duckdb.sql(
        f"SELECT customer_unique_id, min(customer_state) AS customer_state, "
        f"min(customer_zip3) AS customer_zip3 FROM read_parquet('{lake}/customers/*/data.parquet') "
        "GROUP BY 1"
    ).df()
    return frame


def _people_from_olist_csv(folder: Path) -> pd.DataFrame:
    """One row per person of the Olist CSVs: state and zip prefix of their latest order (as
    the mart takes them), no age band (Olist has no profiles)."""
    zip3 = "left(lpad(CAST(c.customer_zip_code_prefix AS VARCHAR), 5, '0'), 3) || 'xx'"
    frame: pd.DataFrame = duckdb.sql(
        f"SELECT c.customer_unique_id, "
        f"arg_max(c.customer_state, o.order_purchase_timestamp) AS customer_state, "
        f"arg_max({zip3}, o.order_purchase_timestamp) AS customer_zip3, "
        f"CAST(NULL AS VARCHAR) AS age_band "
        f"FROM read_csv('{folder}/olist_customers_dataset.csv.gz', all_varchar = true) c "
        f"JOIN read_csv('{folder}/olist_orders_dataset.csv.gz', all_varchar = true) o "
        "USING (customer_id) GROUP BY 1"
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
        "suppressed": result.suppressed,
        "sql_seconds_with_report": round(sql_s, 4),
        "sql_seconds_k_l_only": round(sql_k_s, 4),
        "pycanon_seconds": round(canon_k_s + canon_l_s, 4),
        "plan": result.plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path)
    parser.add_argument("--lake", type=Path)
    parser.add_argument("--olist-csv", type=Path, help="people of the Olist CSVs (a folder)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--suppress", action="store_true", help="apply the mart's rule first")
    args = parser.parse_args()
    if args.snapshot:
        frame = duckdb.sql(f"SELECT * FROM read_parquet('{args.snapshot}')").df()
        qi = [c for c in ["customer_state", "customer_zip3", "age_band"] if c in frame]
        if args.suppress:
            frame, qi = suppress(frame, PUBLISHED_QI), PUBLISHED_QI
        print(run(frame, qi, ["favourite_category"], args.rounds))
    for people in [_people_from_olist_csv(args.olist_csv)] if args.olist_csv else []:
        qi = ["customer_state", "customer_zip3"]
        if args.suppress:
            people, qi = suppress(people, PUBLISHED_QI), PUBLISHED_QI
        print(run(people, qi, [], args.rounds))
    if args.lake:
        people = _people_from_lake(args.lake)
        qi = ["customer_state", "customer_zip3"]
        if args.suppress:
            people, qi = suppress(people, PUBLISHED_QI), PUBLISHED_QI
        print(run(people, qi, [], args.rounds))


if __name__ == "__main__":
    main()
