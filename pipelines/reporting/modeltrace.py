"""``pipelines lineage trace model:<name>``: a trained model back to its landing files.

Every input column of the model (its feature columns and its label) is traced upstream as
:func:`pipelines.reporting.trace.trace` traces one column, and the result is summed up the way
governance asks: each model version with the exact dataset versions its training run read,
the landing files reached, the quality checks of every dataset on the way, and the PII
protections applied on the way (masking edges, and the ``pii``/``protection`` tags of the
columns traced). Everything comes from the lineage store; no data file is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.lineage import naming
from pipelines.reporting.graph import LAYERS, Column, Dataset, Graph
from pipelines.reporting.trace import ColumnLookupError, Trace, render_text, trace_columns

PREFIX = "model:"


def is_model_query(text: str) -> bool:
    return text.strip().startswith(PREFIX)


def find_model(graph: Graph, name: str) -> Dataset:
    """The model dataset named ``name`` (its short name ``model.<name>``, or its full name)."""
    wanted = naming.model_symlink(name)
    found = [d for d in graph.datasets.values() if d.symlink == wanted or d.name == name]
    if len(found) == 1:
        return found[0]
    models = sorted(
        d.symlink[len("model.") :]
        for d in graph.datasets.values()
        if d.kind == "model" and d.symlink
    )
    if not found:
        raise ColumnLookupError(
            f"model {name!r}: no training run recorded it; known models: "
            f"{', '.join(models) or 'none (train one: the train_repeat_purchase DAG)'}",
            [f"{PREFIX}{m}" for m in models],
        )
    raise ColumnLookupError(f"model {name!r} is ambiguous: {', '.join(d.name for d in found)}", [])


@dataclass
class ModelTrace:
    model: Dataset
    trace: Trace
    versions: list[dict[str, Any]] = field(default_factory=list)
    landing_files: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    protections: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model.label,
            "namespace": self.model.namespace,
            "name": self.model.name,
            "versions": self.versions,
            "landing_files": self.landing_files,
            "checks": self.checks,
            "protections": self.protections,
            "trace": self.trace.to_json(),
        }


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _versions(graph: Graph, model: Dataset) -> list[dict[str, Any]]:
    """Each model version (newest first) with the dataset versions its training run read."""
    out = []
    for row in graph.versions.get(model.key, []):
        if row["role"] != "output":
            continue
        inputs = sorted(
            (graph.dataset(key).label, v["version"] or "", v["partition"] or "")
            for key, rows in graph.versions.items()
            for v in rows
            if v["run_id"] == row["run_id"] and v["role"] == "input"
        )
        out.append(
            {
                "version": row["version"],
                "run_id": row["run_id"],
                "trained_at": _iso(row["event_time"]),
                "inputs": [
                    {"dataset": label, "version": version, "partition": partition or None}
                    for label, version, partition in inputs
                ],
            }
        )
    return out


def _checks(graph: Graph, result: Trace) -> list[dict[str, Any]]:
    """Every dataset on the way but the landing files (never checked: ingestion reads them),
    model first, landing side last."""
    rows = []
    for key, info in sorted(
        result.dataset_info.items(),
        key=lambda kv: (-LAYERS.index(graph.dataset(kv[0]).layer), graph.dataset(kv[0]).label),
    ):
        dataset = graph.dataset(key)
        if dataset.kind == "landing":
            continue
        latest = info["assertions"][0]["run_id"] if info["assertions"] else None
        current = [a for a in info["assertions"] if a["run_id"] == latest]
        rows.append(
            {
                "dataset": dataset.label,
                "name": dataset.name,
                "layer": dataset.layer,
                "quality": info["quality"],
                "latest_checking_run": latest,
                **{
                    o: sum(1 for a in current if a["outcome"] == o)
                    for o in ("pass", "warn", "fail")
                },
            }
        )
    return rows


def _protections(graph: Graph, result: Trace) -> list[dict[str, Any]]:
    """Masking edges on the way, and the PII tags of the traced columns that carry one."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for edge in result.edges:
        if edge.masking:
            key = (graph.label(edge.output), graph.label(edge.input), "masked")
            found[key] = {
                "column": graph.label(edge.output),
                "from": graph.label(edge.input),
                "how": edge.description or edge.transformation,
                "pii": graph.tags.get(edge.input, {}).get("pii"),
                "protection": graph.tags.get(edge.output, {}).get("protection")
                or graph.tags.get(edge.input, {}).get("protection"),
            }
    for column in result.depths:
        tags = graph.tags.get(column, {})
        pii = tags.get("pii")
        if pii and pii != "none" and graph.dataset(column).kind != "landing":
            key = (graph.label(column), "", "tag")
            found.setdefault(
                key,
                {
                    "column": graph.label(column),
                    "from": None,
                    "how": "tagged",
                    "pii": pii,
                    "protection": tags.get("protection"),
                },
            )
    return [found[k] for k in sorted(found)]


def trace_model(graph: Graph, text: str, *, depth: int | None = None) -> ModelTrace:
    """The upstream trace of every input column of ``model:<name>``."""
    name = text.strip()[len(PREFIX) :] if is_model_query(text) else text.strip()
    model = find_model(graph, name)
    start = sorted(Column(model.namespace, model.name, c) for c in graph.columns_of(model.key))
    if not start:
        raise ColumnLookupError(f"model {name!r}: its training runs recorded no input columns", [])
    result = trace_columns(graph, f"{PREFIX}{name}", start, downstream=False, depth=depth)
    landing = sorted({c.name for c in result.depths if graph.dataset(c).kind == "landing"})
    return ModelTrace(
        model=model,
        trace=result,
        versions=_versions(graph, model),
        landing_files=landing,
        checks=_checks(graph, result),
        protections=_protections(graph, result),
    )


def render_model_text(mt: ModelTrace) -> str:
    lines = [f"{mt.model.label}  ({mt.model.name})"]
    if mt.model.description:
        lines.append(mt.model.description)
    lines += ["", "versions (newest first):"]
    for v in mt.versions:
        lines.append(f"  {v['version']}  trained {v['trained_at']}  run {v['run_id']}")
        for i in v["inputs"]:
            where = f" {i['partition']}" if i["partition"] else ""
            lines.append(f"    <- {i['dataset']}{where}  version {i['version']}")
    lines += ["", f"landing files reached ({len(mt.landing_files)}):"]
    lines += [f"  {f}" for f in mt.landing_files]
    lines += ["", "checks of the datasets on the way (latest checking run):"]
    for c in mt.checks:
        lines.append(
            f"  {c['dataset']} ({c['layer']}): {c['quality']}  "
            f"{c['pass']} passed, {c['warn']} warned, {c['fail']} failed"
        )
    lines += ["", "personal-data protections on the way:"]
    for p in mt.protections:
        origin = f" <- {p['from']}" if p["from"] else ""
        lines.append(
            f"  {p['column']}{origin}: {p['pii'] or '-'}, {p['protection'] or '-'} ({p['how']})"
        )
    lines += ["", "column trace:", render_text(mt.trace)]
    return "\n".join(lines)


__all__ = [
    "PREFIX",
    "ModelTrace",
    "find_model",
    "is_model_query",
    "render_model_text",
    "trace_model",
]
