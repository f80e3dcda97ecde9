"""``pipelines lineage trace``: upstream to the landing files, downstream for impact."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from pipelines.cli import main
from pipelines.reporting.graph import Graph, load_graph, run_scope
from pipelines.reporting.store import open_store
from pipelines.reporting.trace import ColumnLookupError, render_text, resolve, trace
from pipelines.settings import Settings
from tests.unit.reporting import fixture_events as fx

DAY1, DAY2 = fx.DAYS


@pytest.fixture
def con(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    fx.publish(settings)
    with open_store(settings) as connection:
        yield connection


@pytest.fixture
def graph(con: duckdb.DuckDBPyConnection) -> Graph:
    return load_graph(con)


def _edges(result: Any) -> list[tuple[str, str, str | None, str | None, str | None, bool]]:
    g = result.graph
    return [
        (g.label(e.output), _in(g, e), e.type, e.subtype, e.description, e.masking)
        for e in result.edges
    ]


def _in(g: Graph, edge: Any) -> str:
    """Landing inputs are told apart by their delivery folder."""
    label = g.label(edge.input)
    if g.dataset(edge.input).kind == "landing":
        label += "@" + edge.input.name.split("/")[-2]
    return label


def _set_hash() -> str:
    lines = "\n".join(f"dt={d}={fx.version('orders', d)}" for d in fx.DAYS)
    return hashlib.sha256(lines.encode()).hexdigest()


def test_feature_traced_to_landing_files(
    settings: Settings, con: duckdb.DuckDBPyConnection, graph: Graph
) -> None:
    result = trace(graph, "customer_features.orders_count")
    assert [c.id for c in result.start] == ["warehouse.main.customer_features.orders_count"]
    assert _edges(result) == [
        ("warehouse.customer_features.orders_count", "warehouse.int_customer_orders.order_id",
         "DIRECT", "AGGREGATION", "count(order_id)", False),
        ("warehouse.int_customer_orders.order_id", "warehouse.stg_orders.order_id",
         "DIRECT", "IDENTITY", None, False),
        ("warehouse.stg_orders.order_id", "warehouse.orders.order_id",
         "DIRECT", "IDENTITY", None, False),
        ("warehouse.orders.order_id", "lake.orders.order_id", "DIRECT", "IDENTITY", None, False),
        ("lake.orders.order_id", f"landing.orders.order_id@{DAY1}",
         "DIRECT", "IDENTITY", None, False),
        ("lake.orders.order_id", f"landing.orders.order_id@{DAY2}",
         "DIRECT", "IDENTITY", None, False),
    ]  # fmt: skip
    assert {c.name for c in result.columns if graph.dataset(c).kind == "landing"} == {
        str(settings.landing / d / "olist_orders_dataset.csv") for d in fx.DAYS
    }
    lake = result.dataset_info[("file", str(settings.lake / "orders"))]
    build = fx.task_run(DAY2, "build_features")
    assert (
        sorted(
            (v["version"][:12], v["partition"]) for v in lake["versions"] if v["run_id"] == build
        )
        == sorted(
            [(fx.version("orders", d)[:12], f"dt={d}") for d in fx.DAYS]  # pipelines_release
            + [
                (_set_hash()[:12], f"dt={DAY1}..dt={DAY2} (2 partitions, set hash)")
            ]  # pipelines_partitions
        )
    )
    assert {(v["version"], v["partition"]) for v in lake["versions"] if v["role"] == "output"} == {
        (fx.version("orders", d), f"dt={d}") for d in fx.DAYS
    }
    assert lake["quality"] == "warn"  # the latest check run warned on order_status
    assert sorted(
        (a["column"] or "", a["assertion"], a["version"][:8], a["outcome"])
        for a in lake["assertions"]
    ) == sorted(
        (col, name, fx.version("orders", d)[:8], "pass")
        for d in fx.DAYS
        for col, name in [("", "row_count_between"), ("order_id", "not_null"),
                          ("order_id", "unique")]
    )  # fmt: skip
    features = result.dataset_info[("duckdb://" + str(settings.warehouse),
                                    "warehouse.main.customer_features")]  # fmt: skip
    assert [(a["column"], a["assertion"], a["outcome"]) for a in features["assertions"]] == [
        ("orders_count", "between", "pass")
    ] * 2
    assert features["quality"] == "pass"
    assert [(e["input_label"], e["subtype"]) for e in features["indirect_inputs"]] == [
        ("warehouse.int_customer_orders.customer_unique_id", "GROUP_BY")
    ]


def test_masked_lake_column_traced_to_its_clear_source(
    settings: Settings, con: duckdb.DuckDBPyConnection, graph: Graph
) -> None:
    result = trace(graph, "lake.customers.customer_zip3")
    assert _edges(result) == [
        ("lake.customers.customer_zip3", f"landing.customers.customer_zip_code_prefix@{d}",
         "DIRECT", "TRANSFORMATION", "generalize: zip_prefix_3", True)
        for d in fx.DAYS
    ]  # fmt: skip
    assert result.to_json()["columns"][0]["pii"] == "quasi_identifier"
    assert result.to_json()["columns"][0]["protection"] == "generalize"


def test_feature_through_a_join_and_pseudonymized_ids(
    con: duckdb.DuckDBPyConnection, graph: Graph
) -> None:
    result = trace(graph, "customer_features.customer_unique_id")
    edges = _edges(result)
    assert (
        "warehouse.int_customer_orders.customer_unique_id",
        "warehouse.stg_orders.customer_id",
        "INDIRECT",
        "JOIN",
        "join on customer_id",
        False,
    ) in edges
    masked = [e for e in edges if e[5]]
    assert masked == [
        ("lake.customers.customer_unique_id", f"landing.customers.customer_unique_id@{d}",
         "DIRECT", "TRANSFORMATION", "pseudonymize: HMAC-SHA256 key p1", True)
        for d in fx.DAYS
    ] + [
        ("lake.orders.customer_id", f"landing.orders.customer_id@{d}",
         "DIRECT", "TRANSFORMATION", "pseudonymize: HMAC-SHA256 key p1", True)
        for d in fx.DAYS
    ]  # fmt: skip
    assert {e[1].split("@")[0] for e in edges if "landing" in e[1]} == {
        "landing.customers.customer_unique_id",
        "landing.orders.customer_id",
    }


@pytest.mark.parametrize(
    "name",
    [
        "customer_features.orders_count",
        "warehouse.customer_features.orders_count",
        "warehouse.main.customer_features.orders_count",
        "main.customer_features.orders_count",
        " customer_features.orders_count ",
    ],
)
def test_name_forms_resolve_to_the_same_column(graph: Graph, name: str) -> None:
    assert [c.id for c in resolve(graph, name)] == ["warehouse.main.customer_features.orders_count"]


def test_lake_and_landing_names(settings: Settings, graph: Graph) -> None:
    lake = str(settings.lake / "orders")
    assert [c.id for c in resolve(graph, "lake.orders.customer_id")] == [f"{lake}.customer_id"]
    assert [c.id for c in resolve(graph, f"{lake}.customer_id")] == [f"{lake}.customer_id"]
    assert [c.id for c in resolve(graph, "warehouse.lake.orders.customer_id")] == [
        "warehouse.lake.orders.customer_id"
    ]
    landing = [c.name for c in resolve(graph, "landing.orders.customer_id")]
    assert landing == [str(settings.landing / d / "olist_orders_dataset.csv") for d in fx.DAYS]


def test_ambiguous_name_lists_the_candidates(graph: Graph) -> None:
    with pytest.raises(ColumnLookupError, match="ambiguous") as info:
        resolve(graph, "orders.customer_id")
    assert info.value.candidates == [
        "lake.orders.customer_id",
        "landing.orders.customer_id",
        "warehouse.orders.customer_id",
    ]


def test_unknown_column_names_close_matches(graph: Graph) -> None:
    with pytest.raises(ColumnLookupError) as info:
        resolve(graph, "customer_features.order_count")
    assert info.value.candidates[0] == "warehouse.customer_features.orders_count"
    assert "has no column 'order_count'" in str(info.value)
    assert "orders_count" in str(info.value)
    with pytest.raises(ColumnLookupError, match="no such column") as info:
        resolve(graph, "customer_featurs.orders_count")
    assert info.value.candidates[0] == "warehouse.customer_features.orders_count"
    with pytest.raises(ColumnLookupError, match=r"<table>\.<column>"):
        resolve(graph, "orders_count")


def test_downstream_impact_of_a_lake_column(
    settings: Settings, con: duckdb.DuckDBPyConnection, graph: Graph
) -> None:
    result = trace(graph, "lake.orders.customer_id", downstream=True)
    assert _edges(result) == [
        ("warehouse.orders.customer_id", "lake.orders.customer_id",
         "DIRECT", "IDENTITY", None, False),
        ("warehouse.stg_orders.customer_id", "warehouse.orders.customer_id",
         "DIRECT", "IDENTITY", None, False),
        ("warehouse.int_customer_orders.customer_unique_id", "warehouse.stg_orders.customer_id",
         "INDIRECT", "JOIN", "join on customer_id", False),
        ("warehouse.customer_features.customer_unique_id",
         "warehouse.int_customer_orders.customer_unique_id", "DIRECT", "IDENTITY", None, False),
    ]  # fmt: skip
    assert sorted(
        (graph.dataset(e.output).label, graph.label(e.input), e.subtype)
        for e in result.dataset_impacts
    ) == [
        ("warehouse.customer_features", "warehouse.int_customer_orders.customer_unique_id",
         "GROUP_BY"),
        ("warehouse.int_customer_orders", "warehouse.stg_orders.customer_id", "JOIN"),
    ]  # fmt: skip


def test_downstream_from_a_landing_column_reaches_the_mart(
    con: duckdb.DuckDBPyConnection, graph: Graph
) -> None:
    result = trace(graph, "landing.customers.customer_state", downstream=True)
    reached = {graph.label(c) for c in result.columns}
    assert "warehouse.customer_features.home_state" in reached
    assert len(result.start) == 2  # both days' landing files


def test_depth_limit(con: duckdb.DuckDBPyConnection, graph: Graph) -> None:
    result = trace(graph, "customer_features.orders_count", depth=2)
    assert [graph.label(e.input) for e in result.edges] == [
        "warehouse.int_customer_orders.order_id",
        "warehouse.stg_orders.order_id",
    ]
    assert result.truncated
    assert "stopped at depth 2" in render_text(result)
    assert not trace(graph, "customer_features.orders_count", depth=6).truncated


def test_run_scope_restricts_versions_and_landing_files(
    settings: Settings, con: duckdb.DuckDBPyConnection
) -> None:
    scoped = load_graph(con, run_scope(con, fx.dag_run(DAY1)))
    result = trace(scoped, "lake.orders.order_id")
    assert [e.input.name for e in result.edges] == [
        str(settings.landing / DAY1 / "olist_orders_dataset.csv")
    ]
    lake = result.dataset_info[("file", str(settings.lake / "orders"))]
    assert {v["version"] for v in lake["versions"]} == {fx.version("orders", DAY1)}
    assert lake["quality"] == "pass"
    latest = load_graph(con, run_scope(con, "latest"))
    assert latest.scope is not None and fx.model_run(DAY2, "stg_orders") in latest.scope
    with pytest.raises(LookupError, match="unknown run"):
        run_scope(con, "no-such-run")


def test_text_tree(con: duckdb.DuckDBPyConnection, graph: Graph, settings: Settings) -> None:
    text = render_text(trace(graph, "lake.orders.customer_id"))
    lines = text.splitlines()
    assert lines[0] == "lake.orders.customer_id (VARCHAR)  [pii: indirect_identifier, pseudonymize]"
    landing = settings.landing / DAY1 / "olist_orders_dataset.csv"
    assert lines[1] == (
        f"├── <- landing.orders.customer_id (VARCHAR)  [pii: indirect_identifier, pseudonymize]  "
        f"file: {landing}   [DIRECT/TRANSFORMATION: pseudonymize: HMAC-SHA256 key p1  MASKED]"
    )
    assert lines[2].startswith("└── <- landing.orders.customer_id") and "MASKED" in lines[2]
    assert "datasets on the way:" in lines
    assert "  lake.orders  (lake)  quality: warn" in lines


def test_cli_trace_json_and_errors(
    settings: Settings, con: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data-dir", str(settings.data_dir), "lineage", "trace"]
    assert main([*args, "customer_features.home_state", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["direction"] == "upstream"
    assert data["start"] == ["warehouse.main.customer_features.home_state"]
    assert [(e["output_label"], e["subtype"], e["masking"]) for e in data["edges"]][:4] == [
        ("warehouse.customer_features.home_state", "AGGREGATION", False),
        ("warehouse.int_customer_orders.customer_state", "IDENTITY", False),
        ("warehouse.stg_customers.customer_state", "IDENTITY", False),
        ("warehouse.customers.customer_state", "IDENTITY", False),
    ]
    assert {d["dataset"] for d in data["datasets"]} >= {"lake.customers", "landing.customers"}
    assert main([*args, "lake.orders.customer_id", "--downstream"]) == 0
    assert "-> warehouse.orders.customer_id" in capsys.readouterr().out
    assert main([*args, "orders.customer_id"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and "lake.orders.customer_id" in err
    assert main([*args, "lake.orders.customer_id", "--depth", "0"]) == 2


def test_cli_trace_on_an_empty_store(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(settings.data_dir), "lineage", "trace", "a.b"]) == 2
    assert "the lineage store is empty" in capsys.readouterr().err
