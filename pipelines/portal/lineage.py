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


def load(settings: Settings, run: str | None) -> Any:
    """The lineage graph of ``run`` (None: every run), loaded once per page."""
    return _graph(settings, run)


def datasets_by_layer(graph: Any) -> dict[str, list[tuple[str, list[str]]]]:
    """layer -> [(dataset label, its columns)], in pipeline order."""
    out: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for key, dataset in sorted(graph.datasets.items(), key=lambda kv: kv[1].label):
        if graph.scope is None or key in graph.seen:
            out[dataset.layer].append((dataset.label, graph.columns_of(key)))
    return {layer: out[layer] for layer in LAYERS if out.get(layer)}


def subjects_by_label(graph: Any) -> dict[str, str]:
    """Dataset label -> where its subjects live (propagated through the lineage graph)."""
    found = {d.label: ", ".join(graph.jurisdictions(k)) for k, d in graph.datasets.items()}
    return {label: places for label, places in found.items() if places}


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


def _short(label: str) -> str:
    """A dataset label for a box: file paths by their last two parts."""
    if label.startswith("/"):
        return "…/" + "/".join(label.rstrip("/").split("/")[-2:])
    return label


_RANK = {"PII": 4, "PII-derived": 3, "quasi-id kept": 2, "masked": 1}


def _badges(graph: Any, shown: set[Any], findings: list[Any]) -> dict[str, str]:
    """Dataset box -> its strongest badge: clear PII, PII-derived, a kept quasi-identifier,
    or masked (protected PII)."""
    from pipelines.reporting.pii import clear_pii_sources, kept_by_contract

    found: dict[str, str] = {}

    def mark(key: Any, badge: str) -> None:
        label = _short(graph.dataset(key).label)
        if key in shown and _RANK[badge] > _RANK.get(found.get(label, ""), 0):
            found[label] = badge

    for column, tags in graph.tags.items():
        if (tags.get("pii") or "none") != "none":
            mark(column.dataset_key, "masked")
    for column, source in clear_pii_sources(graph).items():
        kept = source.pii == "quasi_identifier" and source.protection == "keep"
        mark(column.dataset_key, "quasi-id kept" if kept else "PII")
    for finding in findings:
        badge = "quasi-id kept" if kept_by_contract(finding) else "PII-derived"
        mark(finding.column.dataset_key, badge)
    return found


def dataset_graph(
    graph: Any, findings: list[Any]
) -> tuple[dict[str, list[str]], list[tuple[str, str]], dict[str, str]]:
    """(layer -> dataset boxes, edges between boxes, box -> badge) for the drawn graph; the
    files of one landing table (one per day) share a box.

    A badge says what personal data a dataset holds: ``PII`` (clear), ``masked``, or
    ``quasi-id kept`` / ``PII-derived`` for warehouse columns computed from PII
    (``findings``: :func:`pii_derived_columns`)."""
    shown = {k for k in graph.datasets if graph.scope is None or k in graph.seen}
    layers: dict[str, set[str]] = defaultdict(set)
    for key in shown:
        layers[graph.datasets[key].layer].add(_short(graph.datasets[key].label))
    edges = sorted(
        {
            (_short(graph.dataset(e.input).label), _short(graph.dataset(e.output).label))
            for e in [*graph.edges, *graph.dataset_edges]
            if e.input.dataset_key in shown
            and e.output.dataset_key in shown
            and e.input.dataset_key != e.output.dataset_key
        }
    )
    ordered = {layer: sorted(layers[layer]) for layer in LAYERS if layers.get(layer)}
    return ordered, edges, _badges(graph, shown, findings)


def pii_derived_columns(graph: Any) -> list[Any]:
    """Warehouse and feature columns computed from clear PII without masking."""
    from pipelines.reporting.pii import warehouse_pii

    return list(warehouse_pii(graph))


def pii_findings(graph: Any, findings: list[Any]) -> list[dict[str, Any]]:
    """Each PII-derived column (``findings``) with what it is: a quasi-identifier its contract
    keeps (allowed, listed) or a violation in the marts."""
    from pipelines.reporting.pii import kept_by_contract, mart_violations

    bad = {id(f) for f in mart_violations(findings)}
    return [
        {
            "column": graph.label(f.column),
            "layer": f.layer,
            "pii_class": f.source.pii,
            "from": graph.label(f.source.column),
            "status": "violation"
            if id(f) in bad
            else "kept by contract"
            if kept_by_contract(f)
            else "allowed outside the marts",
            "why": "a quasi-identifier its contract keeps as it is (coarse on its own): "
            "reported, allowed in the marts"
            if kept_by_contract(f)
            else "computed from clear PII without masking"
            + ("; the marts must have none" if id(f) in bad else ""),
        }
        for f in findings
    ]
