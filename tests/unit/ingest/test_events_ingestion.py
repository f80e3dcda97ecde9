"""Ingestion events: datasets, versions, column lineage, masking and PII tags vs the contracts."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.contracts import Protection
from pipelines.lake.partitions import partitions
from pipelines.lineage import naming
from tests.factories import CANARIES
from tests.unit.lineage.emit_helpers import (
    MALFORMED_CANARY,
    RUN_ID,
    LineageDay,
    all_text,
    lineage_day,
)
from tests.unit.lineage.ol_schema import validate_events


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> LineageDay:
    return lineage_day(tmp_path_factory)


def ingest_complete(day: LineageDay, table: str) -> dict[str, Any]:
    return day.complete(f"commerce_daily.ingest_{table}")


def facet(dataset: dict[str, Any], name: str) -> Any:
    return {
        **dataset.get("facets", {}),
        **dataset.get("inputFacets", {}),
        **dataset.get("outputFacets", {}),
    }[name]


def test_every_event_is_schema_valid_and_every_task_has_start_and_complete(day: LineageDay):
    validate_events(day.events)
    for table in day.contracts.load_order():
        for job in (f"commerce_daily.ingest_{table}", f"commerce_daily.quality_{table}"):
            states = [e["eventType"] for e in day.of(job)]
            assert states == ["START", "COMPLETE"], job
            assert len({e["run"]["runId"] for e in day.of(job)}) == 1
    # outside Airflow: no parent, run id deterministic from the run id passed to the task
    event = ingest_complete(day, "orders")
    assert "parent" not in event["run"]["facets"]
    assert event["run"]["runId"] == naming.task_run_id("commerce_daily", "ingest_orders", RUN_ID, 1)


@pytest.mark.parametrize(
    "table",
    [
        "customers",
        "customer_profiles",
        "orders",
        "order_items",
        "order_payments",
        "order_reviews",
        "products",
        "sellers",
    ],
)
def test_output_is_the_lake_partition_with_versions_schema_and_contract_facets(
    day: LineageDay, table: str
):
    contract = day.contracts[table]
    event = ingest_complete(day, table)
    (output,) = event["outputs"]
    assert (output["namespace"], output["name"]) == naming.lake_dataset(day.settings.lake, table)
    (part,) = partitions(day.settings.lake, table)
    manifest = part.manifest
    # the gate may have republished the partition since: compare with the ingestion version
    run = event["run"]["facets"]["pipelines_ingestion"]
    assert facet(output, "datasetVersion")["datasetVersion"] == run["dataset_version"]
    assert facet(output, "pipelines_partition")["partition"] == "dt=2018-01-01"
    assert facet(output, "symlinks")["identifiers"][0]["name"] == f"lake.{table}"
    assert facet(output, "ownership")["owners"][0]["name"] == contract.owner
    assert facet(output, "documentation")["description"] == contract.description
    schema = [(f["name"], f["type"]) for f in facet(output, "schema")["fields"]]
    assert schema == [
        *((c.lake_name, c.lake_type) for c in contract.written_columns),
        ("_source_file", "VARCHAR"),
        ("_source_row", "BIGINT"),
    ]
    assert run["read"] == run["loaded"] + run["quarantined"]
    assert run["audit_head"] == {"seq": 0, "mac": "0" * 64}  # nothing audited in this day
    assert run["contract_version"] == manifest.contract_version
    assert run["key_versions"] == manifest.key_versions
    versions = dict(run["key_versions"])
    assert versions.pop("pseudonymization_scheme") == "hmac-sha256-hexkey"
    assert set(versions.values()) <= {"p1", "e1"}  # ids only
    assert facet(output, "outputStatistics")["rowCount"] == run["loaded"]
    # inputs: the landing file(s), by absolute path, with their content hash as version
    files = [i for i in event["inputs"] if "landing" in i["name"]]
    assert [i["name"] for i in files] == [
        str(day.settings.landing / f.path) for f in manifest.source_files
    ]
    assert [facet(i, "datasetVersion")["datasetVersion"] for i in files] == [
        f.sha256 for f in manifest.source_files
    ]
    assert facet(files[0], "symlinks")["identifiers"][0]["name"] == f"landing.{table}"


@pytest.mark.parametrize(
    "table",
    [
        "customers",
        "customer_profiles",
        "orders",
        "order_items",
        "order_payments",
        "order_reviews",
        "products",
        "sellers",
    ],
)
def test_masking_flag_and_pii_tags_follow_the_contract_for_every_column(
    day: LineageDay, table: str
):
    contract = day.contracts[table]
    event = ingest_complete(day, table)
    (output,) = event["outputs"]
    fields = facet(output, "columnLineage")["fields"]
    tags = {(t["field"], t["key"]): t["value"] for t in facet(output, "tags")["tags"]}
    written = {c.lake_name for c in contract.written_columns}
    assert set(fields) == written  # dropped columns have no lineage: nothing is written
    for col in contract.columns:
        if not col.written:
            assert col.lake_name not in fields
            assert (col.lake_name, "pii") not in tags
            continue
        (source,) = fields[col.lake_name]["inputFields"]
        assert source["field"] == col.name
        (t,) = source["transformations"]
        assert t["type"] == "DIRECT"
        assert t["masking"] is (
            col.protection
            in (
                Protection.PSEUDONYMIZE,
                Protection.ENCRYPT,
                Protection.GENERALIZE,
                Protection.SCRUB,
            )
        ), col.name
        if col.protection is Protection.KEEP:
            assert t["subtype"] == ("IDENTITY" if col.type == "string" else "TRANSFORMATION")
        else:
            assert t["subtype"] == "TRANSFORMATION"
            assert t["description"].startswith(col.protection.value)
        if col.pii.value == "none":
            assert (col.lake_name, "pii") not in tags
        else:
            assert tags[(col.lake_name, "pii")] == col.pii.value
            assert tags[(col.lake_name, "protection")] == col.protection.value
    # the landing file is tagged by source column names, dropped ones included
    landing = next(i for i in event["inputs"] if "landing" in i["name"])
    landing_tags = {(t["field"], t["key"]): t["value"] for t in facet(landing, "tags")["tags"]}
    for col in contract.pii_columns:
        assert landing_tags[(col.name, "protection")] == col.protection.value


def test_key_ids_are_named_in_the_descriptions_and_no_key_material_appears(day: LineageDay):
    import json

    event = ingest_complete(day, "customer_profiles")
    (output,) = event["outputs"]
    fields = facet(output, "columnLineage")["fields"]
    email = fields["email"]["inputFields"][0]["transformations"][0]["description"]
    token = fields["customer_unique_id"]["inputFields"][0]["transformations"][0]["description"]
    assert "encryption key e1" in email
    assert "pseudonymization key p1" in token
    ring = json.loads(day.key_file.read_text())
    secrets = [
        key
        for purpose in ("pseudonymization", "encryption")
        for key in ring[purpose]["keys"].values()
    ]
    text = json.dumps(day.events)
    assert secrets and not [s for s in secrets if s in text]


def test_row_checks_are_indirect_filters_and_foreign_keys_indirect_joins(day: LineageDay):
    event = ingest_complete(day, "orders")
    (output,) = event["outputs"]
    indirect = {
        (i["name"].rsplit("/", 1)[-1], i["field"], t["subtype"]): t["description"]
        for i in facet(output, "columnLineage")["dataset"]
        for t in i["transformations"]
    }
    landing = "olist_orders_dataset.csv"
    assert "not_allowed" in indirect[(landing, "order_status", "FILTER")]
    assert "late_arrival" in indirect[(landing, "order_purchase_timestamp", "FILTER")]
    assert "duplicate_key" in indirect[(landing, "order_id", "FILTER")]
    assert "orphan_fk" in indirect[(landing, "customer_id", "JOIN")]
    assert ("customers", "customer_id", "JOIN") in indirect  # the referenced lake table
    ref = next(i for i in event["inputs"] if i["name"].endswith("/lake/customers"))
    assert facet(ref, "pipelines_partitions")["partitions"] == 1
    # the quarantined customer makes its order an orphan: counted by check
    run = event["run"]["facets"]["pipelines_ingestion"]
    assert run["quarantine_by_check"] == {"orphan_fk": 1}
    customers = ingest_complete(day, "customers")["run"]["facets"]["pipelines_ingestion"]
    assert customers["quarantine_by_check"] == {"not_allowed": 1}


def test_the_ingestion_sql_is_the_job_sql_facet_without_key_parameters(day: LineageDay):
    event = ingest_complete(day, "customer_profiles")
    sql = event["job"]["facets"]["sql"]["query"]
    assert 'pipelines_pseudonymize(r."customer_unique_id")' in sql
    assert "pipelines_encrypt(r.\"email\", 'customer_profiles.email')" in sql
    assert "$p_" not in sql
    assert event["job"]["facets"]["sourceCodeLocation"]["path"] == "pipelines/ingest/run.py"


def test_no_pii_canary_in_any_ingestion_or_quality_event(day: LineageDay):
    text = all_text(day.events)
    assert [c for c in [*CANARIES, MALFORMED_CANARY] if c in text] == []
    assert "canary" not in text.lower()
    # the quarantined and malformed records were there to leak
    profiles = ingest_complete(day, "customer_profiles")["run"]["facets"]["pipelines_ingestion"]
    assert profiles["quarantine_by_check"] == {"malformed_record": 1}
