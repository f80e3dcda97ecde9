"""Lineage shows where every dataset's subjects live: the ``pipelines_jurisdiction`` facet
from the policy file on lake and feature datasets, propagated to outputs at emission and
through the lineage graph to feature tables in ``pipelines lineage trace``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openlineage.client.serde import Serde

from pipelines.cli import main
from pipelines.contracts import load_contracts
from pipelines.lineage import events as ev
from pipelines.lineage.datasets import feature_snapshot_facets, lake_table_read
from pipelines.lineage.runs import RunRef
from pipelines.reporting.graph import load_graph
from pipelines.reporting.store import open_store
from pipelines.reporting.trace import render_text, trace
from pipelines.settings import PROJECT_DIR, Settings
from tests.unit.lineage.ol_schema import validate_event
from tests.unit.reporting import fixture_events as fx


@pytest.fixture
def eu_orders(settings: Settings, tmp_path: Path) -> Settings:
    """The demo policy with the orders' subjects in the EU."""
    raw = yaml.safe_load((PROJECT_DIR / "policy.yml").read_text())
    raw["sources"]["orders"] = {"jurisdiction": "EU"}
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(raw))
    return settings.model_copy(update={"policy_file": path})


def test_lake_and_feature_datasets_carry_their_subjects_jurisdictions(eu_orders: Settings):
    from datetime import UTC, datetime

    contracts = load_contracts(eu_orders.contracts_dir)
    read = lake_table_read(eu_orders, contracts["orders"], datetime(2018, 1, 2, tzinfo=UTC))
    facet = read.facets["pipelines_jurisdiction"]
    assert (facet.subjects, facet.source) == (["EU"], "policy.yml: sources.orders")
    snapshot = feature_snapshot_facets(
        "customer_features", Path("x.parquet"), "0" * 64, [("a", "int64")], eu_orders
    )
    facet = snapshot["pipelines_jurisdiction"]  # derived from BR and EU sources: both
    assert (facet.subjects, facet.source) == (
        ["BR", "EU"], "policy.yml: features.customer_features.sources"
    )  # fmt: skip
    customers = lake_table_read(eu_orders, contracts["customers"], datetime.now(UTC))
    out = ev.output_dataset("file", "/somewhere/derived", {})
    run = RunRef(namespace="test", job="join", run_id="0190a4b0-0000-7000-8000-000000000000")
    event = ev.run_event(ev.RunState.COMPLETE, run, inputs=[read, customers], outputs=[out])
    facet = event.outputs[0].facets["pipelines_jurisdiction"]
    assert (facet.subjects, facet.source) == (["BR", "EU"], "derived: the run's inputs")
    validate_event(json.loads(Serde.to_json(event)))


def test_without_a_policy_file_no_jurisdiction_is_claimed(settings: Settings, tmp_path: Path):
    missing = settings.model_copy(update={"policy_file": tmp_path / "none.yml"})
    facets = feature_snapshot_facets("customer_features", Path("x"), "0" * 64, [], missing)
    assert "pipelines_jurisdiction" not in facets


def _place(events: list[dict[str, Any]], symlink: str, subjects: list[str]) -> None:
    for event in events:
        for d in (event.get("inputs") or []) + (event.get("outputs") or []):
            names = [i["name"] for i in d["facets"].get("symlinks", {}).get("identifiers", [])]
            if symlink in names:
                body = {"subjects": subjects, "source": f"policy.yml: sources.{symlink}"}
                d["facets"]["pipelines_jurisdiction"] = fx._custom(
                    "PipelinesJurisdictionDatasetFacet", **body
                )


def test_the_trace_propagates_jurisdictions_to_the_feature_table(settings: Settings, capsys):
    events = fx.build_events(settings.data_dir)
    _place(events, "lake.customers", ["BR"])
    _place(events, "lake.orders", ["EU"])
    fx.publish(settings, events)
    with open_store(settings) as con:
        graph = load_graph(con)
    result = trace(graph, "customer_features.orders_count")
    info = {graph.dataset(k).label: v["jurisdictions"] for k, v in result.dataset_info.items()}
    assert info["lake.orders"] == ["EU"]
    assert info["warehouse.stg_orders"] == ["EU"]  # propagated from the lake view upstream
    assert info["warehouse.customer_features"] == ["BR", "EU"]  # the table: both sources
    text = render_text(result)
    assert "  lake.orders  (lake)" in text and "    subjects in: EU" in text
    assert main(["--data-dir", str(settings.data_dir), "lineage", "trace",
                 "customer_features.home_state"]) == 0  # fmt: skip
    assert "subjects in: BR, EU" in capsys.readouterr().out
