"""Quality events: assertions and metrics on the validated partition, gate quarantine, the gate."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.lake.partitions import partitions
from pipelines.lineage import naming
from pipelines.quality import store
from pipelines.quality.lineage import gate_lineage
from tests.unit.lineage.emit_helpers import RUN_ID, LineageDay, lineage_day
from tests.unit.lineage.ol_schema import validate_event


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> LineageDay:
    return lineage_day(tmp_path_factory)


def stored_checks(day: LineageDay, table: str) -> list[dict[str, Any]]:
    path = (
        store.quality_dir(day.settings)
        / "checks"
        / f"run={store.run_key(RUN_ID)}"
        / f"{table}.parquet"
    )
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("table", ["customers", "orders", "customer_profiles", "order_payments"])
def test_every_check_is_an_assertion_on_the_validated_partition(day: LineageDay, table: str):
    event = day.complete(f"commerce_daily.quality_{table}")
    validated = event["inputs"][0]
    assert (validated["namespace"], validated["name"]) == naming.lake_dataset(
        day.settings.lake, table
    )
    checks = stored_checks(day, table)
    assertions = validated["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) == len(checks)
    by_name = {a["name"]: a for a in assertions}
    for row in checks:
        a = by_name[row["expectation"]]
        assert a["assertion"] == row["expectation_type"]
        assert a["success"] is row["success"]
        assert a.get("column") == row["column"]
        assert a["params"]["outcome"] == row["outcome"]
        assert a["severity"] == {"critical": "error", "warning": "warn"}[row["severity"]]
    # without gate quarantine, GX read the version the results vouch for
    if not event["run"]["facets"]["pipelines_quality"]["quarantined"]:
        assert (
            validated["facets"]["datasetVersion"]["datasetVersion"] == checks[0]["dataset_version"]
        )


def test_metrics_hold_row_count_and_null_counts_from_the_checks(day: LineageDay):
    event = day.complete("commerce_daily.quality_orders")
    metrics = event["inputs"][0]["inputFacets"]["dataQualityMetrics"]
    rows = {r["expectation_type"]: r for r in stored_checks(day, "orders")}
    assert metrics["rowCount"] == 2  # 3 orders, 1 orphan quarantined at ingestion
    not_null = [
        r
        for r in stored_checks(day, "orders")
        if r["expectation_type"] == "expect_column_values_to_not_be_null"
    ]
    assert not_null and rows
    for r in not_null:
        assert metrics["columnMetrics"][r["column"]]["nullCount"] == r["unexpected_count"]
    assert metrics["columnMetrics"]["order_id"]["distinctCount"] == 2


def test_gate_quarantine_publishes_a_new_version_as_output(day: LineageDay):
    event = day.complete("commerce_daily.quality_orders")
    run = event["run"]["facets"]["pipelines_quality"]
    assert run["quarantined"] == {"approved_after_purchase": 1}
    assert "approved_after_purchase" in run["failed_checks"]
    (output,) = event["outputs"]
    (part,) = partitions(day.settings.lake, "orders")
    assert output["facets"]["datasetVersion"]["datasetVersion"] == part.manifest.dataset_version
    assert run["dataset_version_published"] == part.manifest.dataset_version
    assert run["dataset_version_validated"] != part.manifest.dataset_version
    assert output["facets"]["pipelines_partition"]["rows_loaded"] == 1
    # the input is what GX read (ingestion's version); the output, what the results vouch for
    ingested = day.complete("commerce_daily.ingest_orders")["outputs"][0]
    validated = event["inputs"][0]["facets"]["datasetVersion"]["datasetVersion"]
    assert validated == ingested["facets"]["datasetVersion"]["datasetVersion"]
    assert stored_checks(day, "orders")[0]["dataset_version"] == part.manifest.dataset_version
    assert (
        output["facets"]["dataQualityAssertions"]
        == event["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    )
    # tables without gate quarantine publish nothing new
    assert day.complete("commerce_daily.quality_products")["outputs"] == []


def test_suite_reads_are_inputs(day: LineageDay):
    event = day.complete("commerce_daily.quality_order_payments")
    names = {i["name"].rsplit("/", 1)[-1] for i in event["inputs"][1:]}
    assert {"orders", "order_items"} <= names


def test_a_failed_gate_emits_fail_with_the_decision(day: LineageDay):
    assert "approved_after_purchase" in day.gate_error
    (start,) = day.of("commerce_daily.quality_gate", "START")
    (fail,) = day.of("commerce_daily.quality_gate", "FAIL")
    assert not day.of("commerce_daily.quality_gate", "COMPLETE")
    assert fail["run"]["runId"] == start["run"]["runId"]
    facets = fail["run"]["facets"]
    assert facets["errorMessage"]["message"].startswith("QualityGateFailed: quality gate failed")
    gate = facets["pipelines_gate"]
    assert gate["passed"] is False
    assert "orders.approved_after_purchase" in gate["failed_checks"]
    assert all(":" not in c for c in gate["failed_checks"])  # names only, no observed values
    assert len(fail["inputs"]) == len(day.contracts)
    validate_event(fail)


def test_a_passed_gate_decision_becomes_a_run_facet(day: LineageDay):
    from openlineage.client.serde import Serde

    decision = {
        "run_id": RUN_ID,
        "interval_start": "2018-01-01T00:00:00+00:00",
        "interval_end": "2018-01-02T00:00:00+00:00",
        "passed": True,
        "failed_checks": [],
        "missing_tables": [],
        "tables": {"orders": {"passed": 30, "warned": 1, "failed": 0}},
    }
    parts = gate_lineage(decision, day.settings, day.contracts)
    facet = Serde.to_dict(parts.run_facets["pipelines_gate"])
    assert facet["passed"] is True
    assert facet["tables"] == {"orders": {"passed": 30, "warned": 1, "failed": 0}}
    assert facet["audit_head"] == {"seq": 0, "mac": "0" * 64}  # the audit log's head, anchored
    versions = {
        i.name.rsplit("/", 1)[-1]: i.facets["datasetVersion"].datasetVersion for i in parts.inputs
    }
    assert versions["orders"] == partitions(day.settings.lake, "orders")[0].manifest.dataset_version


def test_the_report_task_emits_the_docs_site(day: LineageDay):
    event = day.complete("commerce_daily.quality_report")
    (output,) = event["outputs"]
    assert output["name"] == str(day.settings.data_dir / "reports" / "quality")
