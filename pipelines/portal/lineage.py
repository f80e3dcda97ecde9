"""Lineage for the portal, read from the lineage store (``pipelines.reporting``): datasets by
layer, one column's path upstream or downstream, and one feature row explained down to its
landing records."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipelines.reporting.graph import LAYERS
from pipelines.settings import Settings


def _graph(settings: Settings, run: str | None) -> Any:
    from pipelines.reporting.graph import load_graph, run_scope
    from pipelines.reporting.store import open_store

    with open_store(settings, None) as con:
        return load_graph(con, run_scope(con, run or None))


def runs(settings: Settings) -> list[dict[str, Any]]:
    """Root runs (DAG runs and CLI runs), newest first."""
    from pipelines.reporting.graph import runs as read_runs
    from pipelines.reporting.store import open_store

    with open_store(settings, None) as con:
        rows = [r for r in read_runs(con) if r.parent is None]
    rows.sort(key=lambda r: (r.when is not None, r.when), reverse=True)
    return [
        {"run_id": r.run_id, "job": r.job, "state": r.state, "nominal": r.nominal, "ended": r.ended}
        for r in rows
    ]


def datasets_by_layer(
    settings: Settings, run: str | None
) -> dict[str, list[tuple[str, list[str]]]]:
    """layer -> [(dataset label, its columns)], in pipeline order."""
    graph = _graph(settings, run)
    out: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for key, dataset in sorted(graph.datasets.items(), key=lambda kv: kv[1].label):
        if graph.scope is None or key in graph.seen:
            out[dataset.layer].append((dataset.label, graph.columns_of(key)))
    return {layer: out[layer] for layer in LAYERS if out.get(layer)}


def trace_rows(
    settings: Settings, column: str, downstream: bool, run: str | None
) -> list[dict[str, Any]]:
    """One row per edge of ``column``'s path; raises LookupError with suggestions."""
    from pipelines.reporting.trace import trace

    graph = _graph(settings, run)
    result = trace(graph, column, downstream=downstream)
    rows = []
    for edge in result.edges:
        near, far = (edge.input, edge.output) if downstream else (edge.output, edge.input)
        rows.append(
            {
                "depth": result.depths.get(near, 0) + 1,
                "from": graph.label(near),
                "to": graph.label(far),
                "layer": graph.dataset(far).layer,
                "transformation": edge.transformation,
                "masking": "masked" if edge.masking else "",
                "jobs": ", ".join(edge.jobs),
            }
        )
    return rows


def explain_rows(settings: Settings, table: str, key: str, as_of: str | None) -> dict[str, Any]:
    """Feature values and the lake rows (file:record, partition, gate run) behind one key."""
    from pipelines.features.provenance import explain

    prov = explain(settings, table, key, as_of or None)
    values = [{"feature": k, "value": v} for k, v in prov.to_json()["features"].items()]
    sources = [
        {
            "lake_table": s.table,
            "partition": p.partition,
            "dataset_version": p.dataset_version[:16],
            "gate_run": p.gate_run_id,
            "checks_passed": p.checks_passed,
            "checks_warned": p.checks_warned,
            "landing_records": ", ".join(f"{f}:{r}" for f, r in s.locators[:20])
            + (f" ... ({s.rows} in all)" if s.rows > 20 else ""),
        }
        for s in prov.sources
        for p in s.partitions
    ]
    return {
        "release": prov.release_id,
        "as_of": str(prov.as_of),
        "values": values,
        "sources": sources,
    }
