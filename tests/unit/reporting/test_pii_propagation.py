"""PII propagation at query time: which columns are computed from clear PII without masking."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.reporting.graph import Column, Graph, load_graph
from pipelines.reporting.pii import (
    PiiDerived,
    PiiSource,
    holds_clear_pii,
    kept_by_contract,
    mart_violations,
    pii_derived,
    warehouse_pii,
)
from pipelines.reporting.store import open_store
from pipelines.settings import Settings
from tests.unit.reporting import fixture_events as fx

EXPECTED_WAREHOUSE = {
    "warehouse.customers.customer_state": "warehouse-lake",
    "warehouse.stg_customers.customer_state": "staging",
    "warehouse.int_customer_orders.customer_state": "intermediate",
    "warehouse.customer_features.home_state": "mart",
}


def _graph(settings: Settings, events: list[dict[str, Any]] | None = None) -> Graph:
    fx.publish(settings, events)
    with open_store(settings) as con:
        return load_graph(con)


def test_the_unmasked_path_is_found_and_masked_ones_are_not(settings: Settings) -> None:
    graph = _graph(settings)
    findings = warehouse_pii(graph)
    assert {graph.label(f.column): f.layer for f in findings} == EXPECTED_WAREHOUSE
    # the furthest clear source: where the value entered, the (first day's) landing file
    first_landing = str(settings.landing / fx.DAYS[0] / "olist_customers_dataset.csv")
    assert {(f.source.column.name, f.source.column.field) for f in findings} == {
        (first_landing, "customer_state")
    }
    assert {f.source.pii for f in findings} == {"quasi_identifier"}
    home = next(f for f in findings if f.column.field == "home_state")
    assert [(graph.label(e.input), e.subtype, e.masking) for e in home.path] == [
        ("warehouse.int_customer_orders.customer_state", "AGGREGATION", False),
        ("warehouse.stg_customers.customer_state", "IDENTITY", False),
        ("warehouse.customers.customer_state", "IDENTITY", False),
        ("lake.customers.customer_state", "IDENTITY", False),
        ("landing.customers.customer_state", "IDENTITY", False),
    ]
    # the state is a quasi-identifier its contract keeps: listed, not a violation
    assert kept_by_contract(home)
    assert mart_violations(findings) == []
    # the same path from a column the contract protects is one
    leaked = PiiDerived(
        home.column,
        PiiSource(home.source.column, "direct_identifier", "pseudonymize"),
        home.path,
        "mart",
    )
    email = PiiDerived(
        home.column, PiiSource(home.source.column, "quasi_identifier", "generalize"), (), "features"
    )
    assert mart_violations([home, leaked, email]) == [leaked, email]


def test_clear_pii_sources(settings: Settings) -> None:
    graph = _graph(settings)
    lake = str(settings.lake / "customers")
    landing = str(settings.landing / fx.DAYS[0] / "olist_customers_dataset.csv")
    source = holds_clear_pii(graph, Column("file", landing, "customer_id"))
    assert source is not None and source.pii == "indirect_identifier"  # landing is clear text
    for masked in ("customer_id", "customer_unique_id", "customer_zip3"):
        assert holds_clear_pii(graph, Column("file", lake, masked)) is None
    # the lake view repeats the tags; its IDENTITY copy of a pseudonymized column holds tokens
    view_ns, view = fx.Builder(settings.data_dir).relation("lake.customers")
    assert graph.tags[Column(view_ns, view, "customer_id")]["pii"] == "indirect_identifier"
    assert holds_clear_pii(graph, Column(view_ns, view, "customer_id")) is None
    assert holds_clear_pii(graph, Column(view_ns, view, "customer_state")) is not None
    kept = holds_clear_pii(graph, Column("file", lake, "customer_state"))
    assert kept is not None and (kept.pii, kept.protection) == ("quasi_identifier", "keep")
    labels = {graph.label(f.column) for f in pii_derived(graph)}
    assert "lake.customers.customer_state" in labels
    assert "landing.customers.customer_city" in labels  # dropped at ingestion, clear at landing
    assert not labels & {
        "lake.customers.customer_id",
        "lake.orders.customer_id",
        "warehouse.customer_features.customer_unique_id",
        "warehouse.stg_customers.customer_zip3",
    }


def _mask_state(events: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The same run with customer_state generalized at ingestion (a masking edge)."""
    events = copy.deepcopy(events)
    for dataset in fx.find_dataset(events, str(settings.lake / "customers")):
        lineage = dataset["facets"].get("columnLineage")
        if lineage:
            for t in lineage["fields"]["customer_state"]["inputFields"][0]["transformations"]:
                t.update(subtype="TRANSFORMATION", masking=True, description="generalize: region")
    return events


def _state_as_identifier(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same run with customer_state declared a direct identifier (still kept in clear):
    no longer a quasi-identifier the contract keeps on purpose."""
    events = copy.deepcopy(events)
    for event in events:
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            for tag in dataset.get("facets", {}).get("tags", {}).get("tags", []):
                if tag.get("field") == "customer_state" and tag["key"] == "pii":
                    tag["value"] = "direct_identifier"
    return events


def test_masking_the_source_clears_the_marts(settings: Settings) -> None:
    events = _mask_state(fx.build_events(settings.data_dir), settings)
    graph = _graph(settings, events)
    assert warehouse_pii(graph) == []


def test_indirect_use_of_pii_and_direct_only(settings: Settings) -> None:
    """A FILTER on a clear quasi-identifier makes a column PII-derived unless direct_only."""
    events = _mask_state(fx.build_events(settings.data_dir), settings)
    wh_ns, int_name = fx.Builder(settings.data_dir).relation("main.int_customer_orders")
    for dataset in fx.find_dataset(events, "warehouse.main.customer_features"):
        lineage = dataset["facets"].get("columnLineage")
        if lineage:
            lineage["fields"]["orders_count"]["inputFields"].append(
                {
                    "namespace": wh_ns,
                    "name": int_name,
                    "field": "customer_zip3",
                    "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
                }
            )
    for dataset in fx.find_dataset(events, str(settings.lake / "customers")):
        lineage = dataset["facets"].get("columnLineage")
        if lineage:  # the zip code reaches the lake unmasked this time
            for t in lineage["fields"]["customer_zip3"]["inputFields"][0]["transformations"]:
                t.update(masking=False)
    for dataset in fx.find_dataset(events, "warehouse.main.int_customer_orders"):
        lineage = dataset["facets"].get("columnLineage")
        if lineage:
            lineage["fields"]["customer_zip3"] = {
                "inputFields": [
                    {
                        "namespace": wh_ns,
                        "name": "warehouse.main.stg_customers",
                        "field": "customer_zip3",
                        "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                    }
                ]
            }
    graph = _graph(settings, events)
    everything = {graph.label(f.column) for f in warehouse_pii(graph)}
    direct = {graph.label(f.column) for f in warehouse_pii(graph, direct_only=True)}
    assert "warehouse.customer_features.orders_count" in everything
    assert "warehouse.customer_features.orders_count" not in direct
    assert "warehouse.int_customer_orders.customer_zip3" in direct


def test_protection_tag_decides_when_no_lineage_is_known(settings: Settings) -> None:
    events = fx.build_events(settings.data_dir)
    for dataset in fx.find_dataset(events, str(settings.lake / "customers")):
        dataset["facets"].pop("columnLineage", None)
    graph = _graph(settings, events)
    lake = str(settings.lake / "customers")
    assert holds_clear_pii(graph, Column("file", lake, "customer_id")) is None  # pseudonymize
    assert holds_clear_pii(graph, Column("file", lake, "customer_state")) is not None  # keep


def test_cli_lists_warehouse_columns_and_fails_on_marts(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    fx.publish(settings)
    args = ["--data-dir", str(settings.data_dir), "lineage", "pii"]
    assert main(args) == 0  # only the kept quasi-identifier reaches the marts
    out = capsys.readouterr().out
    assert "warehouse.customer_features.home_state" in out and "kept by contract" in out
    assert "marts: no PII-derived columns" in out

    fx.publish(settings, _state_as_identifier(fx.build_events(settings.data_dir)))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "warehouse.customer_features.home_state" in out
    assert "marts: 1 PII-derived column(s)" in out
    assert main([*args, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {c["column"]: c["layer"] for c in data["columns"]} == EXPECTED_WAREHOUSE
    assert data["marts_clean"] is False
    assert main([*args, "--all", "--format", "json"]) == 1
    labels = {c["column"] for c in json.loads(capsys.readouterr().out)["columns"]}
    assert "lake.customers.customer_state" in labels and len(labels) > len(EXPECTED_WAREHOUSE)

    fx.publish(settings, _mask_state(fx.build_events(settings.data_dir), settings))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "no PII-derived warehouse columns" in out and "marts: no PII-derived columns" in out
