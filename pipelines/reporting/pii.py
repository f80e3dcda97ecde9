"""PII propagation, computed at query time from the column graph.

A column *holds clear PII* when it carries a ``pii`` tag other than ``none`` and its value is
not masked (:func:`value_masked`): some DIRECT edge into it neither masks nor comes from a
masked column, or, when no DIRECT edge into it is known, its ``protection`` tag is not a
masking method (landing files always hold clear values).

A column is *PII-derived* when such a column is reachable upstream from it (itself included)
along a path of only non-masking edges. ``pipelines lineage pii`` lists every PII-derived
warehouse column; the marts (warehouse relations that are not the lake views, ``stg_`` or
``int_`` models) and the feature snapshots must have none, except quasi-identifiers their
source contract keeps on purpose (``pii: quasi_identifier``, ``protection: keep``: a state
code, a gender), which are listed with a note.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from pipelines.reporting.graph import MASKING_PROTECTIONS, Column, Edge, Graph


@dataclass(frozen=True)
class PiiSource:
    column: Column
    pii: str
    protection: str | None


@dataclass(frozen=True)
class PiiDerived:
    """``column`` carries PII from ``source`` along ``path`` (edges from column to source)."""

    column: Column
    source: PiiSource
    path: tuple[Edge, ...]
    layer: str


def _pii_value(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    return None if text in ("", "none", "false", "no") else (value or "").strip()


def value_masked(graph: Graph, column: Column, memo: dict[Column, bool] | None = None) -> bool:
    """Whether ``column``'s value hides the personal data it derives from.

    With DIRECT edges into it: each one masks or comes from a masked column (a view over a
    pseudonymized lake column holds tokens). Without: a landing file holds clear values;
    any other column is masked when its ``protection`` tag names a masking method.
    """
    memo = {} if memo is None else memo
    if column in memo:
        return memo[column]
    memo[column] = False  # a cycle (never expected) counts as unmasked
    direct = [e for e in graph.upstream.get(column, []) if (e.type or "DIRECT") != "INDIRECT"]
    if direct:
        masked = all(e.masking or value_masked(graph, e.input, memo) for e in direct)
    else:
        protection = (graph.tags.get(column, {}).get("protection") or "").lower()
        masked = graph.dataset(column).kind != "landing" and protection in MASKING_PROTECTIONS
    memo[column] = masked
    return masked


def holds_clear_pii(
    graph: Graph, column: Column, memo: dict[Column, bool] | None = None
) -> PiiSource | None:
    """The PII source record if ``column`` holds clear PII (see the module docstring)."""
    tags = graph.tags.get(column, {})
    pii = _pii_value(tags.get("pii"))
    if pii is None or value_masked(graph, column, memo):
        return None
    return PiiSource(column, pii, tags.get("protection"))


def _all_columns(graph: Graph) -> list[Column]:
    columns = {Column(k[0], k[1], f) for k in graph.datasets for f in graph.columns_of(k)}
    columns |= {e.output for e in graph.edges} | {e.input for e in graph.edges}
    columns |= {c for c in graph.tags if c.field}
    return sorted(columns)


def clear_pii_sources(graph: Graph) -> dict[Column, PiiSource]:
    """Every column holding clear PII."""
    memo: dict[Column, bool] = {}
    return {c: s for c in _all_columns(graph) if (s := holds_clear_pii(graph, c, memo))}


def pii_derived(
    graph: Graph, *, direct_only: bool = False, kinds: tuple[str, ...] | None = None
) -> list[PiiDerived]:
    """Every PII-derived column, with the furthest clear-PII column upstream of it (where the
    clear value entered, often the landing file) and the unmasked path to it.

    ``direct_only`` follows only DIRECT edges (values computed from PII), not INDIRECT ones
    (joins, filters, grouping on PII). ``kinds``: only columns of datasets of those kinds.
    """
    sources = clear_pii_sources(graph)
    found: list[PiiDerived] = []
    for column in _all_columns(graph):
        if kinds is not None and graph.dataset(column).kind not in kinds:
            continue
        path_to: dict[Column, tuple[Edge, ...]] = {column: ()}
        queue = deque([column])
        while queue:
            node = queue.popleft()
            for edge in sorted(graph.upstream.get(node, []), key=lambda e: e.input):
                if edge.masking or (direct_only and (edge.type or "").upper() != "DIRECT"):
                    continue
                if edge.input not in path_to:
                    path_to[edge.input] = (*path_to[node], edge)
                    queue.append(edge.input)
        reached = [c for c in path_to if c in sources]
        if reached:
            origin = min(reached, key=lambda c: (-len(path_to[c]), c.id))
            found.append(
                PiiDerived(column, sources[origin], path_to[origin], graph.dataset(column).layer)
            )
    return found


def warehouse_findings(graph: Graph, findings: list[PiiDerived]) -> list[PiiDerived]:
    """The findings in warehouse relations and in the feature snapshots."""
    return [d for d in findings if graph.dataset(d.column).kind in ("warehouse", "features")]


def warehouse_pii(graph: Graph, *, direct_only: bool = False) -> list[PiiDerived]:
    """PII-derived columns of warehouse relations and of the feature snapshots."""
    found = pii_derived(graph, direct_only=direct_only, kinds=("warehouse", "features"))
    return warehouse_findings(graph, found)


def kept_by_contract(finding: PiiDerived) -> bool:
    """A quasi-identifier its contract keeps as it is (``protection: keep``: coarse enough, like
    a state code or a gender, reviewed in the contract): reported, not a violation."""
    return finding.source.pii == "quasi_identifier" and finding.source.protection == "keep"


def mart_violations(findings: list[PiiDerived]) -> list[PiiDerived]:
    """Findings in what ML teams consume (the marts and their snapshots), except
    quasi-identifiers their contract keeps."""
    return [f for f in findings if f.layer in ("mart", "features") and not kept_by_contract(f)]


def to_json(graph: Graph, findings: list[PiiDerived]) -> list[dict[str, Any]]:
    return [
        {
            "column": graph.label(f.column),
            "id": f.column.id,
            "layer": f.layer,
            "pii": f.source.pii,
            "source": graph.label(f.source.column),
            "source_id": f.source.column.id,
            "source_protection": f.source.protection,
            "kept_by_contract": kept_by_contract(f),
            "path": [
                {
                    "output": graph.label(e.output),
                    "input": graph.label(e.input),
                    "transformation": e.transformation,
                    "masking": e.masking,
                }
                for e in f.path
            ],
        }
        for f in findings
    ]


def render_text(graph: Graph, findings: list[PiiDerived]) -> str:
    from pipelines.console import table

    if not findings:
        return "no PII-derived warehouse columns"
    rows = [
        [
            graph.label(f.column),
            f.layer,
            f.source.pii,
            graph.label(f.source.column) if f.path else "(itself)",
            " <- ".join(e.subtype or e.type or "?" for e in f.path) or "-",
            "kept by contract" if kept_by_contract(f) else "",
        ]
        for f in findings
    ]
    return table(rows, ["column", "layer", "pii class", "from (clear PII)", "via", "note"])
