"""Gate results people can act on: a failed representativeness check names its segments and
numbers, every check says what governs it, and foreign-key failures caused by the gate's own
quarantine of their parents are consequences, not separate criticals."""

from __future__ import annotations

import json
from typing import Any

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.quality import stats
from pipelines.quality.explain import foreign_key_parents, observed_text
from pipelines.quality.suites import build_suite
from pipelines.quality.summary import render, summarize

INTERVAL = Interval.parse("2018-01-01", "2018-01-02")
REFERENCE = {"delivered": 0.97, "shipped": 0.011, "canceled": 0.006, "unavailable": 0.013}


def test_a_failed_representativeness_check_names_the_segment_and_the_numbers():
    counts = {"delivered": 636, "shipped": 100, "canceled": 150, "unavailable": 114}
    thresholds = stats.Thresholds()
    comparison = stats.compare(counts, REFERENCE, thresholds)
    assert comparison.level == "fail"
    explained = stats.explain(comparison, thresholds)
    observed = {"tvd": comparison.tvd, "level": "fail", **explained}
    text = observed_text(json.dumps(observed), None, None)
    assert "delivered 63.6% vs reference 97.0%, ratio 0.66" in text
    assert "tvd 0.334 reached fail 0.2" in text
    assert text.startswith("delivered")  # the segment with the most of the mass off first
    assert "canceled 15.0% vs reference 0.6%, ratio 25.00" in text


def test_a_passing_comparison_explains_nothing():
    comparison = stats.compare(
        {"delivered": 970, "shipped": 30}, {"delivered": 0.97, "shipped": 0.03}
    )
    assert stats.explain(comparison, stats.Thresholds()) == {}


def test_every_check_says_which_file_or_threshold_governs_it(contracts: ContractSet):
    suite = build_suite(contracts["orders"], contracts, INTERVAL, loaded=10, read=10)
    governed = {s.name: s.governed_by for s in suite.specs}
    assert all(governed.values()), [n for n, g in governed.items() if not g]
    assert governed["order_status_representative"].startswith("reference ")
    assert (
        "expectations/reference/olist_order_status.yml" in governed["order_status_representative"]
    )
    assert "max_quarantine_share 5%" in governed["contract.quarantine_share"]
    assert "expectations/orders.yml" in governed["contract.quarantine_share"]
    assert governed["contract.foreign_key.customer_id"] == "contract contracts/orders.yml"
    assert "(mostly: 0.99)" in governed["approved_after_purchase"]


def _row(table: str, check: str, outcome: str, **extra: Any) -> dict[str, Any]:
    row = {
        "table": table,
        "partition": "dt=2018-01-01",
        "interval_start": INTERVAL.start.isoformat(),
        "expectation": check,
        "outcome": outcome,
        "observed_value": "0",
        "unexpected_count": None,
        "element_count": None,
        "quarantined": 0,
        "error": None,
        "governed_by": f"governs {check}",
    }
    return {**row, **extra}


def test_foreign_key_failures_from_the_gates_own_quarantine_are_consequences(contracts):
    skew = json.dumps(
        {
            "segments_off": [
                {"segment": "delivered", "share": 0.636, "reference_share": 0.97, "ratio": 0.66}
            ]
        }
    )
    rows = [
        _row("orders", "order_status_representative", "failed", observed_value=skew),
        _row("orders", "carrier_after_purchase", "warned", quarantined=3),
        _row("order_items", "contract.foreign_key.order_id", "failed", quarantined=4),
        _row("order_payments", "contract.foreign_key.order_id", "failed", quarantined=2),
        _row("customers", "contract.row_count", "failed"),  # not a foreign key: a problem
    ]
    summaries = {s.table: s for s in summarize(rows, None, foreign_key_parents(contracts))}
    assert summaries["orders"].failed_checks == [
        "orders.order_status_representative: delivered 63.6% vs reference 97.0%, ratio 0.66 "
        "[governed by governs order_status_representative]"
    ]
    assert summaries["order_items"].failed_checks == []
    [consequence] = summaries["order_items"].consequences
    assert consequence.startswith("order_items.contract.foreign_key.order_id: ")
    assert "consequence of the gate quarantining orders rows (orders.carrier_after_purchase" in (
        consequence
    )
    assert summaries["order_items"].failed == 1  # still counted: the gate still fails
    assert summaries["customers"].failed_checks and not summaries["customers"].consequences

    text = render(list(summaries.values()), ["r1"], None)
    critical = text.split("failed (critical):")[1].split("consequences of")[0]
    assert "order_status_representative" in critical and "foreign_key" not in critical
    assert "consequences of the gate's own quarantine" in text
    assert "4 failed, 2 of them consequences" in text


def test_a_foreign_key_failure_without_a_quarantining_parent_stays_critical(contracts):
    rows = [_row("order_items", "contract.foreign_key.order_id", "failed", quarantined=4)]
    [summary] = summarize(rows, None, foreign_key_parents(contracts))
    assert len(summary.failed_checks) == 1 and summary.consequences == []


def test_warnings_name_their_partition_and_failures_keep_their_name():
    """Over several days the warning list says which day each warning is from; a failed
    check's text stays the check's (events and the gate's decision use it)."""
    rows = [
        _row("orders", "freshness.rows_present", "warned"),
        _row("orders", "freshness.rows_present", "warned", partition="dt=2018-01-02"),
        _row("orders", "contract.row_count", "failed"),
    ]
    [orders] = summarize(rows)
    assert [w.split(":")[0] for w in orders.warned_checks] == [
        "orders.freshness.rows_present (dt=2018-01-01)",
        "orders.freshness.rows_present (dt=2018-01-02)",
    ]
    assert orders.failed_checks[0].startswith("orders.contract.row_count: ")
