"""``pipelines lineage trace``: where a column comes from, or what depends on it.

A column is named ``<dataset>.<column>`` with the dataset's short symlink name
(``lake.orders.customer_id``, ``warehouse.customer_features.orders``), that name
without its prefix when that is unambiguous (``customer_features.orders``), or the
dataset's full OpenLineage name (``warehouse.marts.customer_features.orders``, the
absolute path of a lake table or landing file). Unknown or ambiguous names are errors that
list the close matches.

Upstream traces follow column edges until they reach landing files; ``downstream`` follows
them the other way (impact analysis). Each edge carries its transformation and masking flag;
each dataset on the way carries the versions seen and the quality assertions on the traced
columns. Everything shown comes from the lineage events: no data file is ever read.
"""

from __future__ import annotations

import difflib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pipelines.reporting.graph import (
    Column,
    Dataset,
    Edge,
    Graph,
    assertion_outcome,
    quality_status,
)


class ColumnLookupError(LookupError):
    """A column name that matches no column, or more than one."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


# Resolving names ---------------------------------------------------------------------------


def _short(dataset: Dataset) -> str | None:
    """``warehouse.customer_features`` -> ``customer_features`` (the symlink minus its kind)."""
    if dataset.symlink and "." in dataset.symlink:
        return dataset.symlink.split(".", 1)[1]
    return None


def _all_labels(graph: Graph) -> list[str]:
    labels: set[str] = set()
    for key, dataset in graph.datasets.items():
        for col in graph.columns_of(key):
            labels.add(f"{dataset.label}.{col}")
    return sorted(labels)


def _suggest(text: str, options: list[str], n: int = 6) -> list[str]:
    close = difflib.get_close_matches(text, options, n=n, cutoff=0.6)
    if close:
        return close
    tail = text.rsplit(".", 1)[-1]
    return [o for o in options if o.rsplit(".", 1)[-1] == tail][:n]


def _named_datasets(graph: Graph, ref: str) -> list[dict[str, list[Dataset]]]:
    """The datasets ``ref`` names, by label: exactly (symlink or name), then by a suffix."""
    tiers: list[dict[str, list[Dataset]]] = [{}, {}]
    for dataset in graph.datasets.values():
        exact = ref in (dataset.symlink, dataset.name)
        suffix = ref == _short(dataset) or any(
            dataset.name.endswith(sep + ref) for sep in (".", "/")
        )
        if exact or suffix:
            tiers[0 if exact else 1].setdefault(dataset.label, []).append(dataset)
    return tiers


def resolve(graph: Graph, text: str) -> list[Column]:
    """The columns ``text`` names: one dataset's column, or the same column of every landing
    file sharing one symlink (``landing.orders.customer_id``). Raises
    :class:`ColumnLookupError` with close matches when unknown or ambiguous."""
    text = text.strip()
    if "." not in text:
        raise ColumnLookupError(
            f"{text!r}: name a column as <table>.<column>, e.g. customer_features.orders",
            [],
        )
    if not graph.datasets:
        raise ColumnLookupError(
            f"{text!r}: the lineage store is empty (no events published yet; run the pipeline, "
            "or `pipelines lineage rebuild --events FILE`)",
            [],
        )
    ref, name = text.rsplit(".", 1)
    for groups in _named_datasets(graph, ref):
        if not groups:
            continue
        having = {
            label: ds
            for label, ds in groups.items()
            if any(name in graph.columns_of(d.key) for d in ds)
        }
        served = {label: ds for label, ds in having.items() if ds[0].kind == "features"}
        if len(having) > 1 and len(served) == 1:
            # customer_features.orders: the snapshot ML teams read (the mart is upstream of it)
            having = served
        if len(having) == 1:
            (datasets,) = having.values()
            return sorted(Column(d.namespace, d.name, name) for d in datasets)
        if len(having) > 1:
            options = sorted(f"{label}.{name}" for label in having)
            raise ColumnLookupError(
                f"{text!r} is ambiguous; did you mean one of: {', '.join(options)}", options
            )
        if len(groups) == 1:
            (datasets,) = groups.values()
            columns = sorted({c for d in datasets for c in graph.columns_of(d.key)})
            label = datasets[0].label
            close = difflib.get_close_matches(name, columns, n=6, cutoff=0.5)
            options = [f"{label}.{c}" for c in close]
            hint = f"; close matches: {', '.join(options)}" if options else ""
            listing = ", ".join(columns) or "none recorded"
            raise ColumnLookupError(
                f"{text!r}: {label} has no column {name!r}{hint} (columns: {listing})", options
            )
    options = _suggest(text, _all_labels(graph))
    hint = f"; close matches: {', '.join(options)}" if options else ""
    raise ColumnLookupError(f"{text!r}: no such column in the lineage store{hint}", options)


# The trace --------------------------------------------------------------------------------


@dataclass
class Trace:
    query: str
    direction: str  # upstream | downstream
    start: list[Column]
    edges: list[Edge]  # in discovery order (breadth first)
    depths: dict[Column, int]
    graph: Graph
    depth_limit: int | None
    truncated: bool = False
    dataset_impacts: list[Edge] = field(default_factory=list)  # downstream, dataset-level
    dataset_info: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def columns(self) -> list[Column]:
        return sorted(self.depths, key=lambda c: (self.depths[c], c))

    def to_json(self) -> dict[str, Any]:
        g = self.graph
        return {
            "query": self.query,
            "direction": self.direction,
            "start": [c.id for c in self.start],
            "depth_limit": self.depth_limit,
            "truncated": self.truncated,
            "columns": [_column_json(g, c, self.depths[c]) for c in self.columns],
            "edges": [_edge_json(g, e) for e in self.edges],
            "dataset_impacts": [_edge_json(g, e) for e in self.dataset_impacts],
            "datasets": [
                {**_dataset_json(g.dataset(key)), **info}
                for key, info in sorted(self.dataset_info.items())
            ],
        }


def _column_json(g: Graph, column: Column, depth: int) -> dict[str, Any]:
    dataset = g.dataset(column)
    tags = g.tags.get(column, {})
    return {
        "id": column.id,
        "label": g.label(column),
        "namespace": column.namespace,
        "dataset": column.name,
        "field": column.field,
        "kind": dataset.kind,
        "type": g.field_type(column),
        "depth": depth,
        "pii": tags.get("pii"),
        "protection": tags.get("protection"),
    }


def _edge_json(g: Graph, edge: Edge) -> dict[str, Any]:
    return {
        "output": edge.output.id,
        "output_label": g.label(edge.output) if edge.output.field else g.dataset(edge.output).label,
        "input": edge.input.id,
        "input_label": g.label(edge.input),
        "type": edge.type,
        "subtype": edge.subtype,
        "description": edge.description,
        "masking": edge.masking,
        "jobs": list(edge.jobs),
        "runs": list(edge.runs),
        "last_seen": edge.last_seen.isoformat() if edge.last_seen else None,
    }


def _dataset_json(dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset": dataset.label,
        "namespace": dataset.namespace,
        "name": dataset.name,
        "kind": dataset.kind,
        "layer": dataset.layer,
    }


def trace(
    graph: Graph,
    column: str,
    *,
    downstream: bool = False,
    depth: int | None = None,
) -> Trace:
    """Trace ``column`` upstream (to the landing files) or ``downstream`` (impact)."""
    return trace_columns(graph, column, resolve(graph, column), downstream=downstream, depth=depth)


def trace_columns(
    graph: Graph, query: str, start: list[Column], *, downstream: bool, depth: int | None
) -> Trace:
    """Trace the ``start`` columns together (``query`` is what the result says was asked)."""
    links = graph.downstream if downstream else graph.upstream
    depths: dict[Column, int] = {c: 0 for c in start}
    edges: list[Edge] = []
    truncated = False
    queue = deque(start)
    while queue:
        node = queue.popleft()
        if not downstream and graph.dataset(node).kind == "landing":
            continue  # landing files are where lineage starts
        for edge in sorted(links.get(node, []), key=_edge_order):
            if depth is not None and depths[node] >= depth:
                truncated = True
                break
            edges.append(edge)
            nxt = edge.output if downstream else edge.input
            if nxt not in depths:
                depths[nxt] = depths[node] + 1
                queue.append(nxt)
    impacts: list[Edge] = []
    if downstream:
        reached = set(depths)
        impacts = [e for e in graph.dataset_edges if e.input in reached]
    result = Trace(
        query=query,
        direction="downstream" if downstream else "upstream",
        start=start,
        edges=edges,
        depths=depths,
        graph=graph,
        depth_limit=depth,
        truncated=truncated,
        dataset_impacts=impacts,
    )
    result.dataset_info = _dataset_info(graph, result)
    return result


def _edge_order(edge: Edge) -> tuple[str, ...]:
    return (edge.input.id, edge.output.id, edge.type or "", edge.subtype or "")


def _dataset_info(graph: Graph, result: Trace) -> dict[tuple[str, str], dict[str, Any]]:
    """Versions, assertions on the traced columns and status, per dataset on the way."""
    traced: dict[tuple[str, str], set[str]] = {}
    for col in result.depths:
        traced.setdefault(col.dataset_key, set()).add(col.field)
    for edge in result.dataset_impacts:
        traced.setdefault(edge.output.dataset_key, set())
    info: dict[tuple[str, str], dict[str, Any]] = {}
    for key, cols in traced.items():
        checks = graph.assertions.get(key, [])
        relevant = [a for a in checks if a["column"] is None or a["column"] in cols]
        indirect = [
            _edge_json(graph, e)
            for e in graph.dataset_edges
            if e.output.dataset_key == key and result.direction != "downstream"
        ]
        info[key] = {
            "columns": sorted(cols),
            "jurisdictions": graph.jurisdictions(key),
            "quality": quality_status(checks),
            "versions": [_plain(v) for v in graph.versions.get(key, [])],
            "assertions": [{**_plain(a), "outcome": assertion_outcome(a)} for a in relevant],
            "indirect_inputs": indirect,
        }
    return info


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


# Text rendering --------------------------------------------------------------------------


def _short_id(value: str | None, n: int = 12) -> str:
    return "-" if not value else (value if len(value) <= n else value[:n] + "…")


def _node_text(g: Graph, column: Column) -> str:
    dataset = g.dataset(column)
    text = g.label(column)
    type_ = g.field_type(column)
    if type_:
        text += f" ({type_})"
    tags = g.tags.get(column, {})
    if tags.get("pii") and tags.get("pii") != "none":
        text += f"  [pii: {tags['pii']}" + (
            f", {tags['protection']}]" if tags.get("protection") else "]"
        )
    if dataset.kind == "landing":
        text += f"  file: {dataset.name}"
    return text


def _edge_text(edge: Edge) -> str:
    text = edge.transformation
    return text + ("  MASKED" if edge.masking else "")


def _checks_text(checks: list[dict[str, Any]]) -> list[str]:
    """The checks of the latest run on the traced columns (and the whole dataset), one a line."""
    if not checks:
        return []
    latest = checks[0]["run_id"]  # newest first
    current = [a for a in checks if a["run_id"] == latest]
    runs = len({a["run_id"] for a in checks})
    counts = {o: sum(1 for a in current if a["outcome"] == o) for o in ("pass", "warn", "fail")}
    lines = [
        f"    checks on these columns, latest of {runs} checking run(s) ({_short_id(latest)}): "
        f"{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed"
    ]
    several = len({a["version"] for a in current}) > 1  # e.g. validated, then re-published
    for a in sorted(
        current, key=lambda a: (a["column"] or "", a["name"] or a["assertion"], a["version"] or "")
    ):
        version = f"  (version {_short_id(a['version'])})" if several else ""
        name = a["name"] or a["assertion"]
        lines.append(f"      {a['outcome']:<4}  {a['column'] or '(table)'}  {name}{version}")
    return lines


def render_text(result: Trace) -> str:
    """A readable tree, then the datasets on the way with versions and checks."""
    lines = _tree_lines(result) + _notes_lines(result)
    lines.append("")
    lines.append("datasets on the way:")
    order = sorted(
        result.dataset_info.items(),
        key=lambda kv: (
            min((d for c, d in result.depths.items() if c.dataset_key == kv[0]), default=99),
            kv[0],
        ),
    )
    for key, info in order:
        lines += _dataset_lines(result.graph.dataset(key), info)
    return "\n".join(lines)


def _tree_lines(result: Trace) -> list[str]:
    """Each start column, then the columns it reaches as a tree (a repeat says "see above")."""
    g = result.graph
    downstream = result.direction == "downstream"
    by_node: dict[Column, list[Edge]] = {}
    for edge in result.edges:
        by_node.setdefault(edge.input if downstream else edge.output, []).append(edge)
    lines: list[str] = []
    shown: set[Column] = set()

    def walk(node: Column, prefix: str) -> None:
        children = by_node.get(node, [])
        for i, edge in enumerate(children):
            last = i == len(children) - 1
            child = edge.output if downstream else edge.input
            arrow = "->" if downstream else "<-"
            again = child in shown and by_node.get(child)
            lines.append(
                f"{prefix}{'└── ' if last else '├── '}{arrow} {_node_text(g, child)}"
                f"   [{_edge_text(edge)}]" + ("  (see above)" if again else "")
            )
            if not again:
                shown.add(child)
                walk(child, prefix + ("    " if last else "│   "))

    for col in result.start:
        lines.append(_node_text(g, col))
        shown.add(col)
        walk(col, "")
    return lines


def _notes_lines(result: Trace) -> list[str]:
    """Nothing recorded, the depth limit reached, and the whole datasets affected."""
    lines: list[str] = []
    if not result.edges:
        lines.append(
            "  (no downstream columns recorded)"
            if result.direction == "downstream"
            else "  (no upstream columns recorded: a landing file, or no lineage emitted)"
        )
    if result.truncated:
        lines.append(f"  ... stopped at depth {result.depth_limit} (use --depth to go further)")
    if result.dataset_impacts:
        g = result.graph
        lines.append("")
        lines.append("whole datasets affected (dataset-level joins, filters, grouping):")
        for edge in result.dataset_impacts:
            lines.append(
                f"  {g.dataset(edge.output).label}  <- {g.label(edge.input)} [{_edge_text(edge)}]"
            )
    return lines


def _dataset_lines(dataset: Dataset, info: dict[str, Any]) -> list[str]:
    """One dataset on the way: its quality, file, versions, checks and dataset-level inputs."""
    lines = [f"  {dataset.label}  ({dataset.layer})  quality: {info['quality']}"]
    if info.get("jurisdictions"):
        lines.append(f"    subjects in: {', '.join(info['jurisdictions'])}")
    if dataset.kind == "landing":
        lines.append(f"    file: {dataset.name}")
    lines += _versions_lines(info["versions"])
    lines += _checks_text(info["assertions"])
    for edge in info["indirect_inputs"][:8]:
        lines.append(f"    dataset-level input: {edge['input_label']} [{edge['subtype']}]")
    return lines


def _versions_lines(vers: list[dict[str, Any]]) -> list[str]:
    """The first five distinct versions with their partitions, and how many more."""
    seen: list[str] = []
    for v in vers:
        if v["version"] and v["version"] not in seen:
            seen.append(v["version"])
    if not seen:
        return []
    more = f" (+{len(seen) - 5} more)" if len(seen) > 5 else ""
    details = []
    for version in seen[:5]:
        row = next(v for v in vers if v["version"] == version)
        where = f" {row['partition']}" if row.get("partition") else ""
        details.append(f"{_short_id(version)}{where}")
    return [f"    versions: {', '.join(details)}{more}"]
