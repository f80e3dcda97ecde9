"""Trace, PII listing and page are built from event content only: PII in the data files they
describe (landing files, manifests, the warehouse) can never reach them."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.cli import main
from pipelines.contracts import ContractSet
from pipelines.reporting.graph import load_graph
from pipelines.reporting.page import page_path
from pipelines.reporting.store import events_path, open_store
from pipelines.reporting.trace import render_text, trace
from pipelines.settings import Settings
from tests.conftest import WriteLanding
from tests.factories import CANARIES, clean_day, write_day
from tests.unit.reporting import fixture_events as fx


@pytest.fixture
def data_with_canaries(
    settings: Settings, write_landing: WriteLanding, contracts: ContractSet
) -> list[str]:
    """The datasets the events name exist and hold clear-text PII; returns every file."""
    for day in fx.DAYS:
        write_day(write_landing, contracts, clean_day(), day=day)
        for table in ("customers", "orders"):
            manifest = settings.lake / table / f"dt={day}" / "manifest.json"
            manifest.parent.mkdir(parents=True, exist_ok=True)
            manifest.write_text(json.dumps({"note": "CANARYNAME in a manifest"}))
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("CREATE TABLE customer_features AS SELECT 'CANARYCITY1' AS home_state")
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any("CANARYNAME" in p.read_bytes().decode(errors="ignore") for p in files)
    return [str(p) for p in files]


def test_no_canary_in_any_lineage_output(
    settings: Settings, data_with_canaries: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    fx.publish(settings)
    log = events_path(settings).read_text()
    assert not [c for c in CANARIES if c in log]  # the events are clean ...
    outputs: list[str] = []
    with open_store(settings) as con:
        graph = load_graph(con)
    labels = sorted({graph.label(c) for e in graph.edges for c in (e.output, e.input)})
    for label in labels:
        for downstream in (False, True):
            result = trace(graph, label, downstream=downstream)
            outputs += [render_text(result), json.dumps(result.to_json(), default=str)]
    base = ["--data-dir", str(settings.data_dir), "lineage"]
    for args in (
        ["trace", "customer_features.home_state", "--format", "json"],
        ["pii", "--all"],
        ["pii", "--format", "json"],
        ["page"],
    ):
        main([*base, *args])
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
    outputs.append(page_path(settings).read_text())
    text = "\n".join(outputs)
    assert "warehouse.customer_features.home_state" in text  # ... the outputs are not empty
    assert [c for c in CANARIES if c in text] == []  # ... and so are the outputs
