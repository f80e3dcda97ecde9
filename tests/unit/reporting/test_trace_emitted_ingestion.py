"""Events from the real emitter (a small ingestion through ``task_run`` + ``ingestion_lineage``)
load into the store and trace a lake column to its landing file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.ingest.lineage import ingestion_lineage
from pipelines.lake.interval import Interval
from pipelines.lineage import client
from pipelines.lineage.emit import task_run
from pipelines.protection import KeyRing
from pipelines.reporting.graph import load_graph, run_scope
from pipelines.reporting.pii import holds_clear_pii, pii_derived
from pipelines.reporting.store import events_path, open_store
from pipelines.reporting.trace import render_text, trace
from pipelines.settings import Settings
from tests.conftest import WriteLanding
from tests.factories import CANARIES, DAY, clean_day, write_day

RUN_ID = "manual__2018-01-01T00:00:00+00:00"
INTERVAL = Interval(datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC))


@pytest.fixture
def emitted(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    write_landing: WriteLanding,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Settings]:
    """customers and orders ingested for one day, lineage on the default file transport."""
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.openlineage/openlineage.yml
    monkeypatch.chdir(tmp_path)  # no ./openlineage.yml
    client.reset_clients()
    write_day(write_landing, contracts, clean_day())
    for table in ("customers", "orders"):
        with task_run(
            f"ingest_{table}",
            run_id=RUN_ID,
            settings=settings,
            interval=(INTERVAL.start, INTERVAL.end),
        ) as lineage:
            result = ingest_table(
                table, INTERVAL, settings, run_id=RUN_ID, keyring=keyring, contracts=contracts
            )
            lineage.complete_with(
                lambda r=result: ingestion_lineage(r.manifest, settings, contracts)
            )
    yield settings
    client.reset_clients()


def test_lake_column_traced_to_its_landing_file(emitted: Settings) -> None:
    settings = emitted
    assert events_path(settings).is_file()
    with open_store(settings) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (2,)
        # outside Airflow each task run is top-level: `latest` is both, same data interval
        assert len(run_scope(con, "latest") or ()) == 2
        graph = load_graph(con)
    landing = str((settings.landing / DAY / "olist_customers_dataset.csv").resolve())

    result = trace(graph, "lake.customers.customer_id")
    assert [(e.input.name, e.input.field, e.type, e.subtype, e.masking) for e in result.edges] == [
        (landing, "customer_id", "DIRECT", "TRANSFORMATION", True)
    ]
    assert "pseudonymize" in (result.edges[0].description or "")
    assert graph.dataset(result.edges[0].input).kind == "landing"
    assert graph.dataset(result.start[0]).symlink == "lake.customers"
    lake = result.dataset_info[result.start[0].dataset_key]
    manifest_version = next(v["version"] for v in lake["versions"] if v["role"] == "output")
    assert len(manifest_version) == 64  # the partition's sha256 dataset version

    zip3 = trace(graph, "lake.customers.customer_zip3")
    assert [(e.input.field, e.masking) for e in zip3.edges] == [("customer_zip_code_prefix", True)]

    state = trace(graph, "lake.customers.customer_state")
    assert [(e.input.field, e.masking) for e in state.edges] == [("customer_state", False)]
    assert holds_clear_pii(graph, state.start[0]) is not None  # kept quasi-identifier
    assert holds_clear_pii(graph, result.start[0]) is None  # pseudonymized

    orders = trace(graph, "lake.orders.customer_id")
    assert [(e.input.field, e.masking) for e in orders.edges] == [("customer_id", True)]
    assert orders.edges[0].input.name.endswith(f"{DAY}/olist_orders_dataset.csv")

    downstream = trace(graph, "landing.customers.customer_city", downstream=True)
    assert downstream.edges == []  # dropped at ingestion: nothing depends on it

    text = render_text(result) + render_text(orders)
    labels = {graph.label(f.column) for f in pii_derived(graph)}
    assert "lake.customers.customer_id" not in labels
    assert [c for c in CANARIES if c in text + " ".join(labels)] == []
