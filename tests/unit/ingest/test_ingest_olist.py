"""Ingestion of the real Olist sample (../shared/data/olist_sample), delivered as one export."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from tests.conftest import olist_sample

pytestmark = pytest.mark.olist
WHOLE_HISTORY = Interval.parse("2016-09-01", "2018-11-01")


def _records(path) -> int:
    con = duckdb.connect()
    row = con.execute(
        f"SELECT count(*) FROM read_csv('{path}', header=true, all_varchar=true)"
    ).fetchone()
    return int(row[0])


def test_real_olist_sample_loads_completely_with_keys_resolved(settings, keyring, contracts):
    sample = olist_sample()
    settings.landing.mkdir(parents=True)
    (settings.landing / "2018-10-17").symlink_to(sample)
    results = {
        t: ingest_table(t, WHOLE_HISTORY, settings, keyring=keyring, contracts=contracts)
        for t in contracts.load_order()
    }
    for table, result in results.items():
        counts = result.counts
        assert counts.read == counts.loaded + counts.quarantined, table
        if table == "customer_profiles":  # synthetic: Olist has none
            assert counts.read == 0
            continue
        source = sample / f"{contracts[table].source.file_stem}.csv.gz"
        assert counts.read == _records(source), table
        # The sample is linked: every foreign key resolves, every key is unique.
        assert counts.quarantined == 0, (table, result.manifest.quarantine_by_check)

    con = duckdb.connect()
    lake = settings.lake
    joined = con.execute(
        f"SELECT count(*) FROM read_parquet('{lake}/orders/*/data.parquet') o "
        f"JOIN read_parquet('{lake}/customers/*/data.parquet') c USING (customer_id)"
    ).fetchone()
    assert joined == (results["orders"].counts.loaded,)  # tokens join across tables
    # Review texts with e-mails or phone numbers are scrubbed; Portuguese text survives.
    with gzip.open(sample / "olist_order_reviews_dataset.csv.gz", "rt") as fh:
        assert "@" in fh.read()
    leftovers = con.execute(
        f"SELECT count(*) FILTER (WHERE review_comment_message LIKE '%@%.%'), "
        "count(*) FILTER (WHERE review_comment_message LIKE '%[EMAIL]%'), "
        "count(*) FILTER (WHERE review_comment_message LIKE '%produto%') "
        f"FROM read_parquet('{lake}/order_reviews/*/data.parquet')"
    ).fetchone()
    assert leftovers[0] == 0 and leftovers[1] > 0 and leftovers[2] > 100
