"""``dbt build`` passes on the real Olist sample (../shared/data/olist_sample)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.features.paths import feature_table_names
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.settings import Settings
from pipelines.warehouse.build import build_features
from tests.conftest import olist_sample

FEATURE_TABLES = feature_table_names(Settings())  # the declared feature tables (Olist package on)

pytestmark = [pytest.mark.olist, pytest.mark.integration, pytest.mark.first(9)]  # a dbt build
WHOLE_HISTORY = Interval.parse("2016-09-01", "2018-11-01")
AS_OF = date(2018, 6, 1)


def test_features_build_on_the_real_olist_sample(settings, keyring, contracts):
    sample = olist_sample()
    settings.landing.mkdir(parents=True)
    (settings.landing / "2018-10-17").symlink_to(sample)
    for table in contracts.load_order():
        ingest_table(table, WHOLE_HISTORY, settings, keyring=keyring, contracts=contracts)
    lines: list[str] = []
    result = build_features(settings, AS_OF, release_id="olist", echo=lines.append)
    assert result.success, result.describe_failure()
    assert result.warnings == ()
    rows = {n.name: n.rows_affected for n in result.nodes if n.name in FEATURE_TABLES}
    assert all(rows[t] and rows[t] > 100 for t in FEATURE_TABLES), rows

    lake = settings.lake
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        expected_people = con.execute(
            f"SELECT count(DISTINCT c.customer_unique_id) "
            f"FROM read_parquet('{lake}/orders/*/data.parquet') o "
            f"JOIN read_parquet('{lake}/customers/*/data.parquet') c USING (customer_id) "
            f"WHERE o.order_purchase_timestamp < TIMESTAMP '{AS_OF}'"
        ).fetchone()
        people, with_reviews, no_age = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE review_count > 0), "
            "count(*) FILTER (WHERE age_band IS NULL) "
            "FROM marts.customer_features WHERE as_of_date = ?",
            [AS_OF],
        ).fetchone()
        state_k, suppressed = con.execute(
            "SELECT min(n), coalesce(sum(n) FILTER (WHERE customer_state = '*'), 0) FROM ("
            "SELECT customer_state, age_band, count(*) AS n FROM marts.customer_features "
            "WHERE as_of_date = ? GROUP BY ALL)",
            [AS_OF],
        ).fetchone()
        (late,) = con.execute(
            "SELECT avg(is_late::INTEGER) FROM intermediate.int_order_facts WHERE is_delivered"
        ).fetchone()
    assert (people,) == expected_people
    assert with_reviews > people / 2  # most Olist orders are reviewed
    assert 0.04 < late < 0.12  # Olist delivers about 8% of orders after the estimate
    assert no_age == people  # Olist has no profiles: age band unknown, not invented
    # k-anonymous over (state, age band) as published; no person needs suppressing
    assert (state_k >= 5, suppressed) == (True, 0)
