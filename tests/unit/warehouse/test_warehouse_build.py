"""``dbt build`` on generated lake data, and point-in-time correctness of the snapshots.

One module-scoped sequence of builds on one warehouse (dbt runs cost ~20 s each):

1. only the partitions before AS_OF registered, build as of AS_OF;
2. every partition registered (orders placed on/after AS_OF with late deliveries, reviews
   created on/after AS_OF), build as of AS_OF again: the AS_OF snapshot must not change;
3. build as of LATER: that snapshot differs, and the AS_OF snapshot is still the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from pipelines.features.paths import feature_table_names
from pipelines.settings import Settings
from pipelines.warehouse.build import build_features, snapshot_rows
from pipelines.warehouse.dbt import DbtError, DbtResult, run_dbt
from pipelines.warehouse.lake_views import select_partitions
from tests.unit.warehouse.conftest import AS_OF, LATER, GeneratedLake, query

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

pytestmark = [pytest.mark.integration, pytest.mark.first(30)]  # three dbt builds (integration tier)

KEYS = {
    "customer_features": "customer_unique_token",
    "product_features": "product_id",
    "seller_features": "seller_id",
}
Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(lake: GeneratedLake, as_of: date) -> Snapshot:
    """Every feature row as of ``as_of``, without the run stamps, in key order."""
    return {
        table: query(
            lake.settings,
            f"SELECT * EXCLUDE (_release_id, _run_id) FROM marts.{table} "
            f"WHERE as_of_date = ? ORDER BY {KEYS[table]}",
            [as_of],
        )
        for table in FEATURE_TABLES
    }


@dataclass
class Builds:
    early: DbtResult
    again: DbtResult
    later: DbtResult
    snapshot_early: Snapshot
    snapshot_again: Snapshot
    snapshot_later: Snapshot
    snapshot_early_after_later: Snapshot
    lines: list[str]
    parsing: list[str]  # how dbt parsed the project, per build (from its log)


@pytest.fixture(scope="module")
def builds(generated_lake: GeneratedLake) -> Builds:
    lake = generated_lake
    settings, contracts = lake.settings, lake.contracts
    lines: list[str] = []
    log_file = settings.data_dir / "dbt" / "logs" / "dbt.log"  # other modules may run dbt too
    log_start = log_file.stat().st_size if log_file.is_file() else 0
    before = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    early_selection = select_partitions(settings.lake, contracts, before=before)
    early = build_features(
        settings,
        AS_OF,
        selection=early_selection,
        release_id="r-early",
        run_id="run-1",
        unit_tests=True,  # dbt's unit tests run here; the later builds skip them, as the DAG's
        echo=lines.append,
    )
    snap_early = snapshot(lake, AS_OF)
    again = build_features(settings, AS_OF, release_id="r-all", run_id="run-2", echo=lines.append)
    snap_again = snapshot(lake, AS_OF)
    later = build_features(settings, LATER, release_id="r-all", run_id="run-3", echo=lines.append)
    with later.log_file.open(encoding="utf-8") as fh:
        fh.seek(log_start)
        log = fh.read()
    parsing = [
        line.split("]: ", 1)[-1]
        for line in log.splitlines()
        if "Unable to do partial parsing" in line or "Partial parsing enabled:" in line
    ]
    return Builds(
        early,
        again,
        later,
        snap_early,
        snap_again,
        snapshot(lake, LATER),
        snapshot(lake, AS_OF),
        lines,
        parsing,
    )


def test_dbt_build_passes_on_generated_data(builds: Builds, generated_lake: GeneratedLake):
    for result in (builds.early, builds.again, builds.later):
        assert result.success, result.describe_failure()
        kinds = {n.resource_type for n in result.nodes}
        assert {"model", "test"} <= kinds
        assert ("unit_test" in kinds) is (result is builds.early)  # only when asked for
        assert all(n.status in ("success", "pass") for n in result.nodes)
        assert result.warnings == ()  # no deprecations or other dbt warnings
        assert result.manifest_path and result.run_results_path
        assert result.run_results and result.run_results["results"]
    counts = builds.early.counts()
    assert counts["model success"] == 21
    assert counts["unit_test pass"] >= 5
    # every feature table has rows, and rows_affected reports the snapshot size
    rows = snapshot_rows(generated_lake.settings, AS_OF)
    assert set(rows) == set(FEATURE_TABLES) and all(n > 0 for n in rows.values())
    for table in FEATURE_TABLES:
        assert builds.again.node(table, "model").rows_affected == rows[table]


def test_terminal_output_is_one_line_per_model_and_a_summary(builds: Builds):
    lines = builds.lines
    assert not any("Running with dbt" in line or "START" in line for line in lines)
    summaries = [line for line in lines if line.startswith("dbt build: ok")]
    assert len(summaries) == 3
    assert sum(1 for line in lines if " model customer_features " in line) == 3
    assert len(lines) <= 3 * (21 + 1)  # passing tests are counted, not listed


def test_builds_with_new_as_of_and_run_stamps_reuse_the_parsed_project(builds: Builds):
    """After the first build, the next ones (another release, run and as_of) reuse the saved
    manifest: their values reach dbt outside ``--vars``, whose every change
    would force a full re-parse (``pipelines.warehouse.dbt.BUILD_VALUES``)."""
    assert len(builds.parsing) == 3, builds.parsing
    assert all(p.startswith("Partial parsing enabled") for p in builds.parsing[1:]), builds.parsing


def test_outputs_go_to_the_data_dir(builds: Builds, generated_lake: GeneratedLake):
    dbt_dir = generated_lake.settings.data_dir / "dbt"
    result = builds.later
    assert result.target_dir == dbt_dir / "target"
    assert result.log_file == dbt_dir / "logs" / "dbt.log" and result.log_file.is_file()
    assert result.manifest_path == dbt_dir / "target" / "manifest.json"


def test_snapshot_as_of_is_unchanged_by_later_events(builds: Builds):
    for table in FEATURE_TABLES:
        assert builds.snapshot_early[table], table
        assert builds.snapshot_again[table] == builds.snapshot_early[table], table
        assert builds.snapshot_early_after_later[table] == builds.snapshot_early[table], table


def test_later_snapshot_sees_later_events(builds: Builds, generated_lake: GeneratedLake):
    settings = generated_lake.settings
    names = [c[0] for c in query(settings, "DESCRIBE marts.customer_features")]
    names = [n for n in names if n not in ("_release_id", "_run_id")]
    events = ["orders", "canceled_orders", "review_count", "delivery_outcomes", "spend"]

    def by_person(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
        return {r[0]: {n: r[names.index(n)] for n in events} for r in rows}

    early = by_person(builds.snapshot_early["customer_features"])
    later = by_person(builds.snapshot_later["customer_features"])
    assert len(later) > len(early)  # people whose first order is on/after AS_OF
    # deliveries, reviews and repeat orders that happened after AS_OF
    assert [k for k in early if later[k] != early[k]]
    totals = query(
        settings,
        "SELECT as_of_date, sum(delivered_orders), sum(review_count) FROM marts.seller_features "
        "GROUP BY 1 ORDER BY 1",
    )
    (d1, delivered1, reviews1), (d2, delivered2, reviews2) = totals
    assert (d1, d2) == (AS_OF, LATER)
    assert delivered2 > delivered1 and reviews2 > reviews1


def test_reruns_replace_their_snapshot_and_stamp_the_release(
    builds: Builds, generated_lake: GeneratedLake
):
    settings = generated_lake.settings
    for table in FEATURE_TABLES:
        stamps = query(
            settings,
            f"SELECT as_of_date, _release_id, _run_id, count(*) FROM marts.{table} "
            "GROUP BY ALL ORDER BY 1",
        )
        assert [s[:3] for s in stamps] == [
            (AS_OF, "r-all", "run-2"),
            (LATER, "r-all", "run-3"),
        ], table
        assert stamps[0][3] == len(builds.snapshot_early[table])


def test_features_match_an_independent_computation_on_the_lake(
    builds: Builds, generated_lake: GeneratedLake
):
    """Aggregates of the AS_OF snapshot recomputed straight from the lake files."""
    lake = generated_lake.settings.lake
    d = f"TIMESTAMP '{AS_OF} 00:00:00'"
    orders = f"read_parquet('{lake}/orders/*/data.parquet')"
    known = (
        f"SELECT * FROM {orders} WHERE order_purchase_timestamp < {d} AND NOT coalesce("
        f"order_status IN ('canceled', 'unavailable') AND order_estimated_delivery_date < {d}, "
        "false)"
    )
    with_items = f"read_parquet('{lake}/order_items/*/data.parquet')"
    reviews = f"read_parquet('{lake}/order_reviews/*/data.parquet')"
    import duckdb

    con = duckdb.connect()
    customers, orders_n = con.execute(
        f"SELECT count(DISTINCT c.customer_unique_id), count(*) FROM ({known}) o "
        f"JOIN read_parquet('{lake}/customers/*/data.parquet') c USING (customer_id)"
    ).fetchone()
    units, delivered_pairs = con.execute(
        f"SELECT count(*), count(DISTINCT (i.seller_id, i.order_id)) FILTER "
        f"(WHERE o.order_delivered_customer_date < {d}) FROM ({known}) o JOIN {with_items} i "
        "USING (order_id)"
    ).fetchone()
    answered = con.execute(
        f"SELECT count(*) FROM {reviews} r JOIN {orders} o USING (order_id) "
        f"WHERE o.order_purchase_timestamp < {d} AND r.review_answer_timestamp < {d}"
    ).fetchone()[0]
    snap = builds.snapshot_early
    cols = {
        t: [c[0] for c in query(generated_lake.settings, f"DESCRIBE marts.{t}")]
        for t in FEATURE_TABLES
    }

    def total(table: str, column: str) -> float:
        i = cols[table].index(column)
        return sum(r[i] or 0 for r in snap[table])

    assert answered > 0 and delivered_pairs > 0  # the cut at AS_OF matters
    assert total("customer_features", "orders") == orders_n
    assert total("customer_features", "review_count") == answered
    assert total("product_features", "units_sold") == units
    assert total("seller_features", "items_sold") == units
    assert total("seller_features", "delivered_orders") == delivered_pairs
    # the exact-sum standard deviation agrees with DuckDB's stddev_samp
    stddev = dict(
        con.execute(
            f"SELECT i.product_id, stddev_samp(i.price) FROM {with_items} i "
            f"JOIN {orders} o USING (order_id) WHERE o.order_purchase_timestamp < {d} GROUP BY 1"
        ).fetchall()
    )
    i = cols["product_features"].index("price_stddev")
    for row in snap["product_features"]:
        expected = stddev.get(row[0])
        assert (row[i] is None) == (expected is None), row[0]
        assert row[i] is None or abs(row[i] - expected) < 1e-6, row[0]
    cf = snap["customer_features"]
    assert len({r[0] for r in cf if r[cols["customer_features"].index("orders")] > 0}) <= customers


def test_a_bad_as_of_is_a_clear_error(builds: Builds, generated_lake: GeneratedLake):
    with pytest.raises(DbtError) as caught:
        run_dbt(
            ["compile", "--select", "int_order_facts"],
            generated_lake.settings,
            {"as_of": "last tuesday"},
            echo=lambda _line: None,
        )
    message = str(caught.value)
    assert "var 'as_of' must be a date YYYY-MM-DD, got 'last tuesday'" in message
    assert "dbt.log" in message


def test_customer_features_are_k_anonymous_by_suppression(
    builds: Builds, generated_lake: GeneratedLake
):
    """The mart publishes '*' for the state and age band of people in classes below k, so
    the built snapshot passes the enforcing gate (k >= 5) and the suppressed rows are counted."""
    import duckdb

    from pipelines.privacy.anonymity import SUPPRESSED, evaluate, policy_for
    from pipelines.warehouse.project import DBT_PROJECT_DIR

    policy = policy_for("customer_features", generated_lake.contracts, DBT_PROJECT_DIR)
    assert policy.quasi_identifiers == ("customer_state", "age_band") and policy.enforce
    cols = ["customer_state", "age_band"]
    index = [c[0] for c in query(generated_lake.settings, "DESCRIBE marts.customer_features")]
    rows = [tuple(r[index.index(c)] for c in cols) for r in builds.snapshot_early_after_later[
        "customer_features"]]  # fmt: skip
    con = duckdb.connect()
    con.execute("CREATE TABLE people (customer_state VARCHAR, age_band VARCHAR)")
    con.executemany("INSERT INTO people VALUES (?, ?)", rows)
    result = evaluate(con, "people", policy)
    assert result.passed and result.k is not None and result.k >= 5
    suppressed = sum(1 for r in rows if r == (SUPPRESSED, SUPPRESSED))
    assert result.suppressed == suppressed > 0  # the generated data has small classes
    assert not any(SUPPRESSED in r and r != (SUPPRESSED, SUPPRESSED) for r in rows)
