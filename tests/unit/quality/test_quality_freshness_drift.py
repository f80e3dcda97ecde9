"""Freshness (a late or missing file is flagged) and drift against the previous good batch."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import date, timedelta

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.quality import store
from pipelines.quality.command import main as quality_main
from pipelines.quality.reference import load_reference
from pipelines.quality.runner import validate_partition
from pipelines.settings import Settings
from tests.factories import to_csv
from tests.unit.quality.conftest import ingest_all


def _check(result, name):
    return next(c for c in result.checks if c.spec.name == name)


def test_late_and_missing_review_files_are_flagged(
    settings: Settings, keyring: KeyRing, contracts: ContractSet
):
    from pipelines.generate import generate

    report = generate(
        settings.landing, orders=300, days=3, defects="late_file", defect_count=1, fmt="csv"
    )
    [late] = [d for d in report.defects if d["kind"] == "late_file"]
    tables = [t for t in contracts.load_order() if t != "order_reviews"]
    ingest_all(settings, keyring, contracts, Interval.parse("2018-01-01", "2018-01-04"), tables)
    created = Interval.day(date.fromisoformat(late["created_on"]))
    delivered = Interval.day(date.fromisoformat(late["delivered_on"]))
    ingest_all(settings, keyring, contracts, created, ["order_reviews"])
    ingest_all(settings, keyring, contracts, delivered, ["order_reviews"])

    on_time = validate_partition(
        "order_reviews", created, settings, run_id="a", contracts=contracts
    )
    missing = _check(on_time, "freshness.rows_present")
    assert (missing.success, missing.outcome, missing.observed) == (False, "warned", 0)
    newest = _check(on_time, "freshness.newest_event_in_interval")
    assert newest.outcome == "warned" and newest.observed is None

    arrived = validate_partition(
        "order_reviews", delivered, settings, run_id="a", contracts=contracts
    )
    flagged = _check(arrived, "contract.quarantine.late_arrival.review_creation_date")
    assert (flagged.success, flagged.outcome, flagged.observed) == (False, "warned", late["rows"])
    assert _check(arrived, "freshness.newest_event_in_interval").outcome == "passed"


def _customers(state_counts: dict[str, int], prefix: str) -> list[dict]:
    rows = []
    for state, n in state_counts.items():
        for i in range(n):
            rows.append(
                {
                    "customer_id": f"{prefix}{state}{i:0>28}"[:32],
                    "customer_unique_id": f"u{prefix}{state}{i:0>27}"[:32],
                    "customer_zip_code_prefix": "01310",
                    "customer_city": "x",
                    "customer_state": state,
                }
            )
    return rows


def test_drift_is_measured_against_the_previous_good_batch_and_stored(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    reference = load_reference("olist_customer_state").shares
    market = {s: round(1000 * share) for s, share in reference.items()}
    days = [date(2018, 1, 1), date(2018, 1, 2), date(2018, 1, 3)]
    batches = [_customers(market, "a"), _customers(market, "b"), _customers({"RJ": 1000}, "c")]
    for day, rows in zip(days, batches, strict=True):
        write_landing(day, "olist_customers_dataset.csv", to_csv(contracts, "customers", rows))
    results = []
    for number, day in enumerate(days):
        interval = Interval.day(day)
        ingest_all(settings, keyring, contracts, interval, ["customers"])
        results.append(
            validate_partition(
                "customers", interval, settings, run_id=f"run-{number}", contracts=contracts
            )
        )

    first = _check(results[0], "customer_state_drift")
    assert first.success and first.details["evaluated"] is False  # nothing to compare with yet
    second = _check(results[1], "customer_state_drift")
    assert second.details["evaluated"] and second.outcome == "passed"
    assert "dt=2018-01-01" in second.details["reference_name"]
    assert second.observed["tvd"] < 0.02
    third = _check(results[2], "customer_state_drift")
    assert "dt=2018-01-02" in third.details["reference_name"]
    assert third.outcome == "warned" and not third.success  # drift checks are warnings
    # everyone in RJ: 1 - share(RJ) of the mass moved
    assert third.observed["tvd"] > 0.8 and third.observed["level"] == "fail"
    region = _check(results[2], "customer_region_representative")
    assert region.observed["level"] == "fail"
    ratios = {s["segment"]: s["ratio"] for s in region.details["segments"]}
    assert ratios["sudeste"] > 1.4 and ratios["sul"] == 0.0

    # a batch that failed a critical check is not a reference for the next one: here all
    # customers checks pass or warn, so day 3 is the previous good batch of a fourth day
    shares, label = store.previous_good_batch(settings, "customers", before="2018-01-04")
    assert "dt=2018-01-03" in label and shares["customer_state_representative"]["RJ"] == 1.0

    history = [r for r in store.read_stats(settings) if r["expectation"] == "customer_state_drift"]
    assert {r["interval_start"][:10] for r in history} == {d.isoformat() for d in days}
    out = io.StringIO()
    with redirect_stdout(out):
        quality_main(
            [
                "--data-dir",
                str(settings.data_dir),
                "history",
                "--table",
                "customers",
                "--check",
                "customer_state_drift",
            ]
        )
    assert out.getvalue().count("customer_state_drift") == 3


def test_previous_good_batch_skips_batches_that_failed(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
):
    rows = _customers({"SP": 300}, "a")
    rows.append(dict(rows[0]))  # a duplicate key: quarantined, but ...
    day = date(2018, 1, 1)
    write_landing(day, "olist_customers_dataset.csv", to_csv(contracts, "customers", rows))
    ingest_all(settings, keyring, contracts, Interval.day(day), ["customers"])
    result = validate_partition(
        "customers", Interval.day(day), settings, run_id="x", contracts=contracts
    )
    assert result.count("failed") == 0
    # ... pretend the batch failed a critical check: it must not serve as drift reference
    checks = store.quality_dir(settings) / "checks"
    import pyarrow.parquet as pq

    [path] = list(checks.glob("*/customers.parquet"))
    table = pq.read_table(path).to_pylist()
    table[0]["outcome"] = "failed"
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(table, schema=store.CHECK_SCHEMA), path)
    shares, label = store.previous_good_batch(
        settings, "customers", before=(day + timedelta(1)).isoformat()
    )
    assert shares == {} and label == ""
    assert json.loads(json.dumps(shares)) == {}
