"""The column graph read from the lineage store, shared by trace, PII propagation and the page.

Edges are the store's ``column_edges`` deduplicated across runs (the same edge emitted by
seven daily runs is one edge with seven run ids). A *run scope* (a run id, or the latest DAG
run and every task and model run under it) restricts edges, versions and assertions to the
runs in it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from pipelines.protection_types import names

MASKING_PROTECTIONS = frozenset(names(masking=True))
"""``protection`` tag values whose result hides the source value."""


LAYERS = (
    "landing",
    "lake",
    "warehouse-lake",
    "staging",
    "intermediate",
    "mart",
    "features",
    "model",
    "other",
)
"""Every value of :attr:`Dataset.layer`, in pipeline order (pages and traces sort by it)."""


@dataclass(frozen=True)
class Dataset:
    namespace: str
    name: str
    symlink: str | None
    kind: str  # landing | lake | warehouse | features | other
    description: str | None = None
    owners: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def label(self) -> str:
        """The short name people type (``lake.orders``), else the full name."""
        return self.symlink or self.name

    @property
    def layer(self) -> str:
        """landing, lake, warehouse-lake (the views over the lake), staging, intermediate, mart,
        features (the exported snapshots)."""
        if self.kind != "warehouse":
            return self.kind
        parts = self.name.split(".")
        relation = parts[-1]
        if len(parts) >= 2 and parts[-2] == "lake":
            return "warehouse-lake"
        if relation.startswith("stg_"):
            return "staging"
        if relation.startswith("int_"):
            return "intermediate"
        return "mart"


@dataclass(frozen=True, order=True)
class Column:
    """One column of one dataset (``field`` is ``""`` for a dataset-level edge's output)."""

    namespace: str
    name: str
    field: str

    @property
    def dataset_key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def id(self) -> str:
        return f"{self.name}.{self.field}" if self.field else self.name


@dataclass(frozen=True)
class Edge:
    """``output`` is computed from ``input`` by one transformation."""

    output: Column
    input: Column
    type: str | None
    subtype: str | None
    description: str | None
    masking: bool
    jobs: tuple[str, ...]
    runs: tuple[str, ...]
    last_seen: datetime | None

    @property
    def transformation(self) -> str:
        kind = "/".join(x for x in (self.type, self.subtype) if x) or "UNKNOWN"
        return kind + (f": {self.description}" if self.description else "")


@dataclass
class Graph:
    datasets: dict[tuple[str, str], Dataset]
    fields: dict[tuple[str, str], list[tuple[str, str | None, str | None]]]
    edges: list[Edge]
    dataset_edges: list[Edge]
    tags: dict[Column, dict[str, str | None]]
    scope: frozenset[str] | None
    versions: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """Dataset versions seen per dataset (newest first), one per version, role and run."""
    assertions: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """Quality assertions per dataset (newest first)."""
    seen: set[tuple[str, str]] = field(default_factory=set)
    """Datasets read or written by a run in scope."""
    upstream: dict[Column, list[Edge]] = field(default_factory=dict)
    downstream: dict[Column, list[Edge]] = field(default_factory=dict)
    edge_fields: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """Per dataset, the fields its column edges touch (in column order), for columns_of."""
    dataset_inputs: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    """Per dataset, the datasets its edges (column and dataset-level) read."""

    def __post_init__(self) -> None:
        up: dict[Column, list[Edge]] = defaultdict(list)
        down: dict[Column, list[Edge]] = defaultdict(list)
        for edge in self.edges:
            up[edge.output].append(edge)
            down[edge.input].append(edge)
        self.upstream, self.downstream = dict(up), dict(down)
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for col in sorted({e.output for e in self.edges} | {e.input for e in self.edges}):
            by_key[col.dataset_key].append(col.field)
        self.edge_fields = dict(by_key)
        inputs: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for edge in (*self.edges, *self.dataset_edges):
            if edge.input.dataset_key != edge.output.dataset_key:
                inputs[edge.output.dataset_key].add(edge.input.dataset_key)
        self.dataset_inputs = dict(inputs)

    def dataset(self, column: Column | tuple[str, str]) -> Dataset:
        key = column.dataset_key if isinstance(column, Column) else column
        found = self.datasets.get(key)
        return found or Dataset(key[0], key[1], None, "other")

    def columns_of(self, key: tuple[str, str]) -> list[str]:
        """Schema columns in order, then any column only known from edges."""
        names = [f for f, _, _ in self.fields.get(key, [])]
        seen = set(names)
        for name in self.edge_fields.get(key, []):
            if name not in seen:
                names.append(name)
                seen.add(name)
        return names

    def inputs_of(self, key: tuple[str, str]) -> set[tuple[str, str]]:
        """Datasets ``key`` is derived from directly (column and dataset-level edges)."""
        return self.dataset_inputs.get(key, set())

    def jurisdictions(self, key: tuple[str, str]) -> list[str]:
        """Where the subjects of ``key`` live: its own ``jurisdiction`` tag and those of every
        dataset upstream of it (propagated through the lineage graph)."""
        found: set[str] = set()
        todo, seen = [key], {key}
        while todo:
            current = todo.pop()
            own = self.tags.get(Column(current[0], current[1], ""), {}).get("jurisdiction")
            found.update(s for s in (own or "").split(",") if s)
            for parent in self.inputs_of(current) - seen:
                seen.add(parent)
                todo.append(parent)
        return sorted(found)

    def field_type(self, column: Column) -> str | None:
        for name, type_, _ in self.fields.get(column.dataset_key, []):
            if name == column.field:
                return type_
        return None

    def label(self, column: Column) -> str:
        return f"{self.dataset(column).label}.{column.field}"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    parent: str | None
    root: str
    when: datetime | None  # the run's last event (end, else start)
    job: str
    state: str | None
    started: datetime | None
    ended: datetime | None
    nominal: datetime | None


def runs(con: duckdb.DuckDBPyConnection) -> list[RunRow]:
    return [
        RunRow(str(r[0]), r[1], str(r[2]), r[3] or r[4], str(r[5]), r[6], r[4], r[3], r[7])
        for r in con.execute(
            "SELECT run_id, parent_run_id, root_run_id, ended_at, started_at, job_name, state, "
            "nominal_start FROM runs"
        ).fetchall()
    ]


def _latest(rows: list[RunRow]) -> str | None:
    latest: dict[str, datetime] = {}
    for r in rows:
        when = r.when or datetime.min
        if r.root not in latest or latest[r.root] < when:
            latest[r.root] = when
    return max(latest, key=lambda root: (latest[root], root)) if latest else None


def latest_roots(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The latest DAG run; for tasks run outside Airflow (each its own top-level run), every
    top-level task run of the latest one's data interval (its nominal start time)."""
    rows = runs(con)
    root = _latest(rows)
    if root is None:
        return []
    by_id = {r.run_id: r for r in rows}
    top = by_id.get(root)
    if top is None or "." not in top.job or top.nominal is None:
        return [root]  # a DAG run (job ``commerce_daily``), or nothing to group by
    return sorted(
        r.run_id for r in rows if r.run_id == r.root and "." in r.job and r.nominal == top.nominal
    )


def run_scope(con: duckdb.DuckDBPyConnection, run: str | None) -> frozenset[str] | None:
    """Run ids under ``run``: ``latest`` (see :func:`latest_roots`), or a run id and every run
    below it. ``None`` (no restriction) for None.

    A run id that is not known is an error naming the most recent DAG runs.
    """
    if run is None:
        return None
    rows = runs(con)
    roots = latest_roots(con) if run == "latest" else [run]
    if not roots:
        return frozenset()
    known = {r.run_id for r in rows}
    if run != "latest" and run not in known:
        recent = sorted(
            {(r.when or datetime.min, r.run_id) for r in rows if r.run_id == r.root},
            reverse=True,
        )[:5]
        names = ", ".join(r for _, r in recent) or "none"
        raise LookupError(f"unknown run {run!r}; most recent top-level runs: {names}")
    children: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.parent:
            children[r.parent].append(r.run_id)
    found, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


def _in_scope(run_id: str | None, scope: frozenset[str] | None) -> bool:
    return scope is None or run_id in scope


VERSION_COLUMNS = (
    "version",
    "role",
    "run_id",
    "job",
    "event_time",
    "partition",
    "interval_start",
    "interval_end",
    "rows_loaded",
    "rows_quarantined",
    "row_count",
)
ASSERTION_COLUMNS = (
    "version",
    "assertion",
    "name",
    "column",
    "success",
    "severity",
    "run_id",
    "job",
    "event_time",
)


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest event first; ties in a stable order of the other values."""
    rows = sorted(rows, key=lambda r: tuple(("" if v is None else str(v)) for v in r.values()))
    return sorted(rows, key=lambda r: r["event_time"] or datetime.min, reverse=True)


def _load_edges(
    con: duckdb.DuckDBPyConnection, scope: frozenset[str] | None
) -> tuple[list[Edge], list[Edge]]:
    """The column edges and the dataset-level edges in ``scope``, each once, with the runs
    and jobs that recorded it and when it was last seen."""
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in con.execute(
        "SELECT out_namespace, out_name, out_field, in_namespace, in_name, in_field, type, "
        "subtype, description, masking, run_id, job_name, event_time FROM column_edges "
        "ORDER BY event_time, run_id"
    ).fetchall():
        if not _in_scope(row[10], scope):
            continue
        key = row[:10]
        entry = grouped.setdefault(key, {"runs": [], "jobs": [], "last": None})
        if row[10] and row[10] not in entry["runs"]:
            entry["runs"].append(row[10])
        if row[11] and row[11] not in entry["jobs"]:
            entry["jobs"].append(row[11])
        entry["last"] = row[12]
    edges: list[Edge] = []
    dataset_edges: list[Edge] = []
    for key, entry in sorted(grouped.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        out_ns, out_name, out_field, in_ns, in_name, in_field, type_, sub, desc, masking = key
        edge = Edge(
            output=Column(out_ns, out_name, out_field or ""),
            input=Column(in_ns or "", in_name, in_field or ""),
            type=type_,
            subtype=sub,
            description=desc,
            masking=bool(masking),
            jobs=tuple(entry["jobs"]),
            runs=tuple(entry["runs"]),
            last_seen=entry["last"],
        )
        (edges if out_field and in_field else dataset_edges).append(edge)
    return edges, dataset_edges


def load_graph(con: duckdb.DuckDBPyConnection, scope: frozenset[str] | None = None) -> Graph:
    """The column graph of the store, restricted to the runs in ``scope`` (None: all runs).

    Reads whole tables without bound parameters (binding Python values makes DuckDB import
    pandas, seconds on a cold start) and filters in Python: the store is small.
    """
    datasets = {
        (ns, name): Dataset(ns, name, symlink, kind, desc, owners)
        for ns, name, symlink, kind, desc, owners in con.execute(
            "SELECT namespace, name, symlink, kind, description, owners FROM datasets"
        ).fetchall()
    }
    fields: dict[tuple[str, str], list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for ns, name, fname, ftype, fdesc in con.execute(
        "SELECT namespace, name, field, type, description FROM fields ORDER BY ordinal, field"
    ).fetchall():
        fields[(ns, name)].append((fname, ftype, fdesc))
    edges, dataset_edges = _load_edges(con, scope)
    tags: dict[Column, dict[str, str | None]] = defaultdict(dict)
    for ns, name, fname, key_, value in con.execute(
        "SELECT namespace, name, coalesce(field, ''), key, value FROM tags ORDER BY 1, 2, 3, 4"
    ).fetchall():
        tags[Column(ns, name, fname)][key_] = value
    versions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in con.execute(
        "SELECT namespace, name, version, role, run_id, job_name, event_time, partition, "
        "interval_start, interval_end, rows_loaded, rows_quarantined, row_count "
        "FROM dataset_versions"
    ).fetchall():
        if _in_scope(row[4], scope):
            versions[(row[0], row[1])].append(dict(zip(VERSION_COLUMNS, row[2:], strict=True)))
    checks: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in con.execute(
        'SELECT namespace, name, version, assertion, assertion_name, "column", success, '
        "severity, run_id, job_name, event_time FROM assertions"
    ).fetchall():
        if _in_scope(row[8], scope):
            checks[(row[0], row[1])].append(dict(zip(ASSERTION_COLUMNS, row[2:], strict=True)))
    seen = {
        (ns, name)
        for ns, name, run_id in con.execute(
            "SELECT DISTINCT namespace, name, run_id FROM dataset_runs"
        ).fetchall()
        if _in_scope(run_id, scope)
    }
    return Graph(
        datasets=datasets,
        fields=dict(fields),
        edges=edges,
        dataset_edges=dataset_edges,
        tags=dict(tags),
        scope=scope,
        versions={k: _newest_first(v) for k, v in versions.items()},
        assertions={k: _newest_first(v) for k, v in checks.items()},
        seen=seen,
    )


WARN_SEVERITIES = frozenset({"warn", "warning", "low", "info"})


def assertion_outcome(assertion: dict[str, Any]) -> str:
    """pass, warn (failed, severity warn) or fail."""
    if assertion.get("success"):
        return "pass"
    severity = str(assertion.get("severity") or "").lower()
    return "warn" if severity in WARN_SEVERITIES else "fail"


def quality_status(items: list[dict[str, Any]]) -> str:
    """The dataset's status from its latest checked run: fail > warn > pass; none if unchecked."""
    if not items:
        return "none"
    latest = max(items, key=lambda a: (a["event_time"] or datetime.min, a["run_id"] or ""))
    current = [a for a in items if a["run_id"] == latest["run_id"]]
    outcomes = {assertion_outcome(a) for a in current}
    for status in ("fail", "warn", "pass"):
        if status in outcomes:
            return status
    return "none"
