"""The gate on the real Olist sample: it notices the sample's skew (64% delivered orders
against the market's 97%) and quarantines its orders with timestamps out of order."""

from __future__ import annotations

import os

import pytest

from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.quality.runner import validate_partition
from pipelines.quality.tasks import QualityGateFailed, gate
from pipelines.settings import Settings
from tests.conftest import olist_sample
from tests.unit.quality.conftest import ingest_all

pytestmark = pytest.mark.olist
INTERVAL = Interval.parse("2016-09-01", "2018-11-01")
PARENTS = ["customers", "customer_profiles", "orders"]
CHILDREN = ["products", "sellers", "order_items", "order_payments", "order_reviews"]


def _check(result, name):
    return next(c for c in result.checks if c.spec.name == name)


def test_representativeness_flags_the_skew_of_the_olist_sample(
    settings: Settings, keyring: KeyRing, contracts
):
    sample = olist_sample()
    settings.landing.mkdir(parents=True)
    os.symlink(sample, settings.landing / "2018-10-17")  # one delivery holding the export
    ingest_all(settings, keyring, contracts, INTERVAL, PARENTS)
    orders = validate_partition("orders", INTERVAL, settings, run_id="olist", contracts=contracts)
    ingest_all(settings, keyring, contracts, INTERVAL, CHILDREN)  # after the orders gate
    results = {
        t: validate_partition(t, INTERVAL, settings, run_id="olist", contracts=contracts)
        for t in ["customers", "order_items", "order_payments", "products"]
    }

    status = _check(orders, "order_status_representative")
    assert status.outcome == "failed" and status.spec.severity == "critical"
    market, sample_share = 96478 / 99441, 5172 / 8135
    # every other status is over-represented, so TVD = market - sample delivered share
    assert status.observed["tvd"] == pytest.approx(market - sample_share, abs=1e-5)
    assert status.observed["psi"] > 0.25 and status.observed["level"] == "fail"
    segments = {s["segment"]: s for s in status.details["segments"]}
    assert segments["delivered"]["ratio"] == pytest.approx(sample_share / market, abs=1e-5)
    assert segments["delivered"]["level"] == "warn"  # 0.66: under-represented
    assert segments["canceled"]["level"] == "fail"  # 625 of 8,135 against 0.6%

    # compared with the full payment and product tables too (reported, whatever the verdict)
    for table, name in [
        ("order_payments", "payment_type_representative"),
        ("products", "product_category_representative"),
        ("customers", "customer_state_representative"),
    ]:
        check = _check(results[table], name)
        assert check.details["evaluated"] and check.observed["psi"] is not None, name

    # the 3 orders handed to the carrier before the purchase, and the 3 delivered before the
    # carrier pickup, are quarantined; within 1% of the batch that is a warning
    for name in ("carrier_after_purchase", "delivered_after_carrier_pickup"):
        check = _check(orders, name)
        assert (check.unexpected_count, check.quarantined, check.outcome) == (3, 3, "warned")
    assert _check(results["order_items"], "contract.foreign_key.order_id").outcome == "passed"

    with pytest.raises(QualityGateFailed, match=r"orders\.order_status_representative"):
        gate(
            INTERVAL.start,
            INTERVAL.end,
            "olist",
            tables=["orders", "order_items"],
            settings=settings,
        )
