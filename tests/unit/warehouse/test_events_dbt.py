"""dbt and lake-view events from a real dbt-duckdb build of a small project of our own."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from pipelines.lineage import naming
from tests.factories import CANARIES
from tests.unit.lineage.emit_helpers import MALFORMED_CANARY, DbtDay, all_text, dbt_day
from tests.unit.lineage.ol_schema import validate_events

pytestmark = pytest.mark.integration  # a real dbt build (integration tier)

BUILD = "commerce_daily.build_features"


@pytest.fixture(scope="module")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> DbtDay:
    return dbt_day(tmp_path_factory)


def events_of(dbt: DbtDay, job: str) -> list[dict[str, Any]]:
    return [e for e in dbt.events if e["job"]["name"] == job]


def output_of(dbt: DbtDay, job: str) -> dict[str, Any]:
    (complete,) = [e for e in events_of(dbt, job) if e["eventType"] == "COMPLETE"]
    (output,) = complete["outputs"]
    return output


def test_one_start_and_one_end_per_model_under_the_build_task(dbt: DbtDay):
    validate_events(dbt.events)
    states = {
        name: [e["eventType"] for e in events_of(dbt, f"{BUILD}.{name}")]
        for name in ("stg_orders", "stg_customers", "customer_features", "broken", "lake_views")
    }
    assert states == {
        "stg_orders": ["START", "COMPLETE"],
        "stg_customers": ["START", "COMPLETE"],
        "customer_features": ["START", "COMPLETE"],
        "broken": ["START", "FAIL"],
        "lake_views": ["START", "COMPLETE"],
    }, dbt.dbt_output[-2000:]
    assert not [e for e in dbt.events if e["job"]["name"].startswith(f"{BUILD}.test")]
    for name in states:
        for event in events_of(dbt, f"{BUILD}.{name}"):
            parent = event["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == dbt.build_run_id
            assert parent["job"]["name"] == BUILD
            assert event["run"]["runId"] == naming.step_run_id(dbt.build_run_id, name)
    # the build task itself: START ... COMPLETE around them
    task = [e["eventType"] for e in events_of(dbt, BUILD)]
    assert task == ["START", "COMPLETE"]


def test_model_datasets_sql_and_schema(dbt: DbtDay):
    ns = naming.warehouse_namespace(dbt.warehouse)
    (complete,) = [
        e for e in events_of(dbt, f"{BUILD}.customer_features") if e["eventType"] == "COMPLETE"
    ]
    assert {(i["namespace"], i["name"]) for i in complete["inputs"]} == {
        (ns, "warehouse.main.stg_orders"),
        (ns, "warehouse.main.stg_customers"),
    }
    output = complete["outputs"][0]
    assert (output["namespace"], output["name"]) == (ns, "warehouse.main.customer_features")
    assert output["facets"]["symlinks"]["identifiers"][0]["name"] == "warehouse.customer_features"
    assert output["facets"]["documentation"]["description"] == "Orders and home region per person."
    schema = {f["name"]: f.get("type") for f in output["facets"]["schema"]["fields"]}
    assert list(schema) == [
        "customer_unique_id",
        "orders_count",
        "last_purchase_at",
        "home_state",
        "zip_region",
    ]
    sql = complete["job"]["facets"]["sql"]
    assert sql["dialect"] == "duckdb" and '"warehouse"."main"."stg_orders"' in sql["query"]
    assert complete["job"]["facets"]["jobType"]["integration"] == "DBT"
    # select * from a lake view resolves to the contract's lake columns
    stg = output_of(dbt, f"{BUILD}.stg_customers")
    stg_schema = {f["name"]: f.get("type") for f in stg["facets"]["schema"]["fields"]}
    assert stg_schema["customer_zip3"] == "VARCHAR"
    assert "_dataset_version" in stg_schema and "customer_city" not in stg_schema


def test_model_column_lineage_types(dbt: DbtDay):
    fields = output_of(dbt, f"{BUILD}.customer_features")["facets"]["columnLineage"]["fields"]

    def edges(column: str) -> set[tuple[str, str, str, str]]:
        return {
            (i["name"], i["field"], t["type"], t["subtype"])
            for i in fields[column]["inputFields"]
            for t in i["transformations"]
        }

    assert edges("customer_unique_id") == {
        ("warehouse.main.stg_customers", "customer_unique_id", "DIRECT", "IDENTITY")
    }
    assert edges("orders_count") == {
        ("warehouse.main.stg_orders", "order_id", "DIRECT", "AGGREGATION")
    }
    assert edges("home_state") == {
        ("warehouse.main.stg_customers", "customer_state", "DIRECT", "AGGREGATION")
    }
    assert edges("zip_region") == {
        ("warehouse.main.stg_customers", "customer_zip3", "INDIRECT", "CONDITIONAL")
    }
    dataset = output_of(dbt, f"{BUILD}.customer_features")["facets"]["columnLineage"]["dataset"]
    indirect = {
        (i["name"], i["field"], t["subtype"]) for i in dataset for t in i["transformations"]
    }
    assert {
        ("warehouse.main.stg_orders", "customer_id", "JOIN"),
        ("warehouse.main.stg_customers", "customer_id", "JOIN"),
        ("warehouse.main.stg_customers", "customer_unique_id", "GROUP_BY"),
    } <= indirect
    stg = output_of(dbt, f"{BUILD}.stg_orders")["facets"]["columnLineage"]
    assert {(i["field"], t["subtype"]) for i in stg["dataset"] for t in i["transformations"]} == {
        ("order_status", "FILTER")
    }


def test_dbt_tests_are_assertions_on_the_model_output(dbt: DbtDay):
    assertions = output_of(dbt, f"{BUILD}.customer_features")["facets"]["dataQualityAssertions"]
    found = {
        (a["assertion"], a.get("column"), a["success"], a["severity"])
        for a in assertions["assertions"]
    }
    assert found == {
        ("not_null", "customer_unique_id", True, "error"),
        ("unique", "customer_unique_id", True, "error"),
        ("accepted_values", "orders_count", False, "warn"),
    }


def test_a_failed_model_is_a_fail_event_with_values_redacted(dbt: DbtDay):
    (fail,) = [e for e in events_of(dbt, f"{BUILD}.broken") if e["eventType"] == "FAIL"]
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "Conversion Error" in message
    assert "'…'" in message and "p1:" not in message  # the token DuckDB quoted is gone
    assert fail["outputs"] == []
    assert fail["run"]["facets"]["pipelines_dbt"]["status"] == "error"


def test_lake_views_release_and_identity_lineage(dbt: DbtDay):
    (complete,) = [e for e in events_of(dbt, f"{BUILD}.lake_views") if e["eventType"] == "COMPLETE"]
    release = complete["run"]["facets"]["pipelines_release"]["partitions"]
    assert {p["table"] for p in release} == set(dbt.day.contracts)
    outputs = {o["name"]: o for o in complete["outputs"]}
    view = outputs["warehouse.lake.customers"]
    assert view["facets"]["symlinks"]["identifiers"][0]["name"] == "warehouse.customers"
    fields = view["facets"]["columnLineage"]["fields"]
    lake_ns, lake_name = naming.lake_dataset(dbt.day.settings.lake, "customers")
    for column in ("customer_id", "customer_zip3", "_source_row"):
        (source,) = fields[column]["inputFields"]
        assert (source["namespace"], source["name"], source["field"]) == (
            lake_ns,
            lake_name,
            column,
        )
        assert source["transformations"][0]["subtype"] == "IDENTITY"
    assert "_partition" not in fields  # from the registry, not from the lake table
    lake_input = next(i for i in complete["inputs"] if i["name"] == lake_name)
    assert lake_input["facets"]["datasetVersion"]["datasetVersion"] == next(
        p["dataset_version"] for p in release if p["table"] == "customers"
    )
    assert "warehouse.lake.partitions" in outputs


def _edges(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[str, str, dict]]]:
    """(dataset name, field) -> upstream (dataset name, field, transformation)."""
    up: dict[tuple[str, str], list[tuple[str, str, dict]]] = {}
    for event in events:
        if event["eventType"] != "COMPLETE":
            continue
        for output in event.get("outputs") or []:
            lineage = (output.get("facets") or {}).get("columnLineage") or {}
            for field, spec in (lineage.get("fields") or {}).items():
                for source in spec["inputFields"]:
                    for t in source.get("transformations") or [{}]:
                        up.setdefault((output["name"], field), []).append(
                            (source["name"], source["field"], t)
                        )
    return up


def test_a_feature_traces_back_to_the_landing_file_through_the_protection(dbt: DbtDay):
    up = _edges(dbt.day.events + dbt.events)
    start = ("warehouse.main.customer_features", "customer_unique_id")
    paths: list[list[tuple[str, str, dict]]] = []
    queue: deque[tuple[tuple[str, str], list[tuple[str, str, dict]]]] = deque([(start, [])])
    while queue:
        node, path = queue.popleft()
        if node not in up:
            paths.append(path)
            continue
        for name, field, t in up[node]:
            queue.append(((name, field), [*path, (name, field, t)]))
    (path,) = paths
    names = [(n.rsplit("/", 1)[-1], f) for n, f, _ in path]
    assert names == [
        ("warehouse.main.stg_customers", "customer_unique_id"),
        ("warehouse.lake.customers", "customer_unique_id"),
        ("customers", "customer_unique_id"),
        ("olist_customers_dataset.csv", "customer_unique_id"),
    ]
    assert [t.get("masking") for _, _, t in path] == [False, False, False, True]


def test_no_pii_canary_in_any_event(dbt: DbtDay):
    text = all_text(dbt.day.events + dbt.events)
    assert "canary" not in text.lower()
    leaks = [c for c in [*CANARIES, MALFORMED_CANARY] if c in text]
    assert leaks == []
    # and the event log on disk (what the store and the page read)
    from pipelines.lineage.client import events_path

    data = events_path(dbt.day.settings).read_bytes()
    assert [c for c in [*CANARIES, MALFORMED_CANARY] if c.encode() in data] == []
    assert b"canary" not in data.lower()
