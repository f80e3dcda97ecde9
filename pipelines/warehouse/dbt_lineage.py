"""Lineage of a dbt run: one START and one COMPLETE/FAIL per model, from dbt's artifacts.

Reads ``target/manifest.json`` and ``target/run_results.json`` (and ``catalog.json`` when
``dbt docs generate`` wrote one). Per model: job ``<parent task job>.<model>`` with the
compiled SQL (``sql``), ``jobType`` (DBT MODEL), ``documentation`` and
``sourceCodeLocation``; parent = the build task's run; inputs = its ``ref``/``source``
relations; output = its relation with ``schema``, ``documentation``, ``symlinks``, column
lineage computed from the compiled SQL (:mod:`pipelines.warehouse.sqlcolumns`) and the
outcomes of the dbt tests attached to it as ``dataQualityAssertions``. Relations are
``duckdb://<warehouse>`` / ``<database>.<schema>.<alias>`` as dbt names them, so sources
in schema ``lake`` are the ``warehouse.lake.<table>`` views.

Schemas (for ``select *`` and the ``schema`` facet), first found: ``catalog.json``, the
``relation_schemas`` argument, the contracts (for ``lake`` views), the manifest's declared
columns, and for models the output columns of their own SQL.

Model errors become FAIL events whose ``errorMessage`` has quoted literals redacted (engine
messages may quote data values). Skipped models get START + ABORT.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.generated import data_quality_assertions_dataset, documentation_job

from pipelines.contracts import ContractSet
from pipelines.lineage import client, naming
from pipelines.lineage import datasets as ds
from pipelines.lineage import emit as em
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.warehouse.sqlcolumns import ColumnLineage, SqlLineageError, column_lineage

MODEL_TYPES = ("model", "snapshot")
LAKE_SCHEMA = "lake"
_STATES = {
    "success": RunState.COMPLETE,
    "error": RunState.FAIL,
    "skipped": RunState.ABORT,
}
_TEST_SUCCESS = {"pass"}


class DbtArtifactsError(ValueError):
    """dbt's artifacts are missing or unreadable; the message names the file."""


@dataclass
class DbtLineage:
    """What :func:`dbt_events` built: the events and a few counts."""

    events: list[RunEvent] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    column_edges: int = 0
    warnings: list[str] = field(default_factory=list)


def _load(path: Path, required: bool = True) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise DbtArtifactsError(f"dbt artifact not found: {path} (run dbt build first)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DbtArtifactsError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DbtArtifactsError(f"{path}: expected a JSON object")
    return data


def _relation(node: dict[str, Any]) -> str:
    name = node.get("alias") or node.get("identifier") or node["name"]
    return f"{node['database']}.{node['schema']}.{name}"


def _lower(columns: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v or "") for k, v in columns.items()}


class _Schemas:
    """Column names and types per relation, from the best source available."""

    def __init__(
        self,
        manifest: dict[str, Any],
        catalog: dict[str, Any],
        explicit: Mapping[str, Mapping[str, str]] | None,
        contracts: ContractSet | None,
    ):
        self.known: dict[str, dict[str, str]] = {}
        self.origin: dict[str, str] = {}
        for section in ("nodes", "sources"):
            for entry in (catalog.get(section) or {}).values():
                meta = entry.get("metadata") or {}
                if not meta.get("database"):
                    continue
                rel = f"{meta['database']}.{meta['schema']}.{meta['name']}"
                cols = sorted(
                    (entry.get("columns") or {}).values(), key=lambda c: c.get("index", 0)
                )
                self._set(rel, {c["name"]: c.get("type") or "" for c in cols}, "catalog")
        for rel, given in (explicit or {}).items():
            self._set(rel, dict(given), "argument")
        for source in (manifest.get("sources") or {}).values():
            rel = _relation(source)
            if rel in self.known:
                continue
            if contracts is not None and source.get("schema") == LAKE_SCHEMA:
                table = source.get("identifier") or source["name"]
                if table in contracts:
                    from pipelines.warehouse.lake_views_lineage import view_columns

                    self._set(rel, dict(view_columns(contracts[table])), "contract")
                    continue
            declared = source.get("columns") or {}
            if declared:
                self._set(
                    rel, {n: c.get("data_type") or "" for n, c in declared.items()}, "manifest"
                )

    def _set(self, rel: str, cols: Mapping[str, str], origin: str) -> None:
        if rel.lower() not in self.known:
            self.known[rel.lower()] = _lower(cols)
            self.origin[rel.lower()] = origin

    def get(self, rel: str) -> dict[str, str] | None:
        return self.known.get(rel.lower())

    def mapping(self) -> dict[str, dict[str, str]]:
        return {k: v for k, v in self.known.items() if k.count(".") == 2}


def _order(manifest: dict[str, Any], ids: list[str]) -> list[str]:
    """``ids`` in dependency order (a model after the models it refs)."""
    nodes = manifest.get("nodes") or {}
    wanted = set(ids)
    done: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for dep in ((nodes.get(uid) or {}).get("depends_on") or {}).get("nodes") or []:
            if dep in wanted:
                visit(dep)
        done.append(uid)

    for uid in ids:
        visit(uid)
    return done


def _timing(result: dict[str, Any], generated_at: str) -> tuple[str, str]:
    timing = {t.get("name"): t for t in result.get("timing") or []}
    execute = timing.get("execute") or timing.get("compile") or {}
    start = execute.get("started_at") or generated_at
    end = execute.get("completed_at") or start
    return start, end


def _tests_by_model(
    manifest: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    nodes = manifest.get("nodes") or {}
    out: dict[str, list[Any]] = {}
    for result in results:
        uid = result.get("unique_id", "")
        if not uid.startswith("test."):
            continue
        node = nodes.get(uid) or {}
        attached = node.get("attached_node") or next(
            iter((node.get("depends_on") or {}).get("nodes") or []), None
        )
        if not attached:
            continue
        meta = node.get("test_metadata") or {}
        status = str(result.get("status") or "")
        config = node.get("config") or {}
        params: dict[str, Any] = {"status": status}
        if isinstance(result.get("failures"), int):
            params["failures"] = result["failures"]
        out.setdefault(attached, []).append(
            data_quality_assertions_dataset.Assertion(
                assertion=str(meta.get("name") or "singular_test"),
                success=status in _TEST_SUCCESS,
                column=node.get("column_name") or None,
                severity=str(config.get("severity") or "").lower() or None,
                name=node.get("name"),
                params=params,
            )
        )
    return out


def _source_path(node: dict[str, Any], project_dir: Path | None) -> str:
    path = node.get("original_file_path") or node.get("path") or ""
    if project_dir is not None:
        full = project_dir / path
        try:
            return str(full.resolve().relative_to(PROJECT_DIR.resolve()))
        except ValueError:
            return str(full)
    return str(path)


def _parent(parent: ev.RunRef | None, invocation: str) -> ev.RunRef:
    if parent is not None:
        return parent
    current = em.current_task()
    if current is not None:
        return current.run
    return ev.RunRef(
        naming.task_job(naming.BUILD_TASK),
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbt-invocation:{invocation or uuid.uuid4()}")),
        naming.job_namespace(),
    )


def dbt_events(
    target_dir: Path,
    *,
    settings: Settings,
    parent: ev.RunRef | None = None,
    warehouse: Path | None = None,
    project_dir: Path | None = None,
    relation_schemas: Mapping[str, Mapping[str, str]] | None = None,
    contracts: ContractSet | None = None,
) -> DbtLineage:
    """Build (not send) the events of the dbt run whose artifacts are in ``target_dir``."""
    warehouse = warehouse or settings.warehouse
    if contracts is None:
        try:
            contracts = ds.contracts_for(settings)
        except Exception:
            contracts = None
    manifest = _load(target_dir / "manifest.json")
    run_results = _load(target_dir / "run_results.json")
    catalog = _load(target_dir / "catalog.json", required=False)
    results = list(run_results.get("results") or [])
    meta = run_results.get("metadata") or {}
    invocation = str(meta.get("invocation_id") or "")
    generated_at = str(meta.get("generated_at") or ev.now())
    parent_run = _parent(parent, invocation)
    namespace = naming.warehouse_namespace(warehouse)
    nodes = manifest.get("nodes") or {}
    sources = manifest.get("sources") or {}
    schemas = _Schemas(manifest, catalog, relation_schemas, contracts)
    tests = _tests_by_model(manifest, results)
    by_id = {r.get("unique_id"): r for r in results}
    model_ids = [
        uid for uid in by_id if isinstance(uid, str) and uid.split(".", 1)[0] in MODEL_TYPES
    ]

    out = DbtLineage()
    for uid in _order(manifest, model_ids):
        node = nodes.get(uid)
        if node is None:
            out.warnings.append(f"{uid}: in run_results.json but not in manifest.json")
            continue
        result = by_id[uid]
        relation = _relation(node)
        sql = str(result.get("compiled_code") or node.get("compiled_code") or "")
        lineage: ColumnLineage | None = None
        if sql.strip():
            try:
                lineage = column_lineage(sql, schemas.mapping(), dialect="duckdb")
            except SqlLineageError as exc:
                out.warnings.append(f"{node['name']}: no column lineage: {exc}")
        if lineage is not None and schemas.get(relation) is None:
            schemas._set(relation, _sql_schema(lineage, node, schemas), "sql")
        out.events.extend(
            _model_events(
                node,
                result,
                parent_run,
                namespace,
                schemas,
                lineage,
                tests.get(uid, []),
                nodes,
                sources,
                generated_at,
                invocation,
                project_dir,
            )
        )
        out.models.append(str(node["name"]))
        if lineage is not None:
            out.column_edges += sum(len(v) for v in lineage.fields.values()) + len(lineage.dataset)
    return out


def _sql_schema(lineage: ColumnLineage, node: dict[str, Any], schemas: _Schemas) -> dict[str, str]:
    """Output columns of a model's SQL; types from dbt's declared ``data_type`` or, for a
    column that is an identity of one source column, that column's type."""
    declared = node.get("columns") or {}
    out: dict[str, str] = {}
    for column in lineage.columns:
        kind = (declared.get(column) or {}).get("data_type") or ""
        identities = [e for e in lineage.fields.get(column, []) if e.subtype == "IDENTITY"]
        if not kind and len(identities) == 1:
            kind = (schemas.get(identities[0].table) or {}).get(identities[0].column.lower(), "")
        out[column] = kind
    return out


def _dataset_facets(
    relation: str, schemas: _Schemas, description: str | None = None
) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "symlinks": f.symlink(naming.warehouse_symlink(relation.rsplit(".", 1)[-1]))
    }
    cols = schemas.get(relation)
    if cols:
        facets["schema"] = f.schema((c, t or None, None) for c, t in cols.items())
    if description:
        facets["documentation"] = f.documentation(description)
    return facets


def _model_events(
    node: dict[str, Any],
    result: dict[str, Any],
    parent: ev.RunRef,
    namespace: str,
    schemas: _Schemas,
    lineage: ColumnLineage | None,
    assertions: list[Any],
    nodes: dict[str, Any],
    sources: dict[str, Any],
    generated_at: str,
    invocation: str,
    project_dir: Path | None,
) -> list[RunEvent]:
    run = ev.step_run_ref(parent, str(node["name"]))
    relation = _relation(node)
    status = str(result.get("status") or "")
    state = _STATES.get(status, RunState.FAIL)
    started, ended = _timing(result, generated_at)
    sql = str(result.get("compiled_code") or node.get("compiled_code") or "")
    description = node.get("description") or None
    job_facets: dict[str, Any] = {
        "jobType": ev.job_type("MODEL", "DBT"),
        "sourceCodeLocation": ev.source_location(_source_path(node, project_dir)),
    }
    if sql:
        job_facets["sql"] = ev.sql_facet(sql.strip())
    if description:
        job_facets["documentation"] = documentation_job.DocumentationJobFacet(
            description=description, producer=naming.PRODUCER
        )

    inputs = []
    for dep in (node.get("depends_on") or {}).get("nodes") or []:
        upstream = nodes.get(dep) or sources.get(dep)
        if upstream is None or dep.startswith("test."):
            continue
        rel = _relation(upstream)
        inputs.append(ev.input_dataset(namespace, rel, _dataset_facets(rel, schemas)))

    output_facets = _dataset_facets(relation, schemas, description)
    if lineage is not None:
        fields = {
            name: [
                f.Edge(
                    namespace,
                    e.table,
                    e.column,
                    e.type,
                    e.subtype,
                    e.description,
                    e.masking,
                )
                for e in edges
            ]
            for name, edges in lineage.fields.items()
        }
        dataset = [
            f.Edge(namespace, e.table, e.column, e.type, e.subtype, e.description, e.masking)
            for e in lineage.dataset
        ]
        output_facets["columnLineage"] = f.column_lineage(fields, dataset)
    if assertions:
        output_facets["dataQualityAssertions"] = (
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=assertions, producer=naming.PRODUCER
            )
        )
    outputs = [ev.output_dataset(namespace, relation, output_facets)]

    adapter = result.get("adapter_response") or {}
    rows = adapter.get("rows_affected")
    run_facets: dict[str, Any] = {
        "pipelines_dbt": f.custom(
            f.PipelinesDbtRunFacet,
            unique_id=str(node["unique_id"]),
            status=status,
            materialization=(node.get("config") or {}).get("materialized"),
            execution_seconds=float(result.get("execution_time") or 0.0),
            rows_affected=int(rows) if isinstance(rows, int) and rows >= 0 else None,
            invocation_id=invocation or None,
        )
    }
    if state is RunState.FAIL:
        run_facets["errorMessage"] = ev.error_facet(
            str(result.get("message") or f"dbt status {status}"), redact=True
        )
    start = ev.run_event(RunState.START, run, job_facets=job_facets, event_time=started)
    end = ev.run_event(
        state,
        run,
        inputs=inputs,
        outputs=outputs if state is RunState.COMPLETE else [],
        run_facets=run_facets,
        job_facets=job_facets,
        event_time=ended,
    )
    return [start, end]


def emit_dbt_run(
    target_dir: Path,
    *,
    settings: Settings,
    parent: ev.RunRef | None = None,
    warehouse: Path | None = None,
    project_dir: Path | None = None,
    relation_schemas: Mapping[str, Mapping[str, str]] | None = None,
    contracts: ContractSet | None = None,
) -> DbtLineage:
    """Build and send the per-model events of a finished dbt run; never raises.

    ``parent`` defaults to the enclosing ``task_run`` (the build task). Failures (missing
    artifacts, a transport error) are logged and recorded in ``errors.jsonl``.
    """
    if client.disabled():
        return DbtLineage()
    try:
        built = dbt_events(
            target_dir,
            settings=settings,
            parent=parent,
            warehouse=warehouse,
            project_dir=project_dir,
            relation_schemas=relation_schemas,
            contracts=contracts,
        )
    except Exception as exc:
        em.record_failure(settings, "building dbt events", exc)
        return DbtLineage()
    for warning in built.warnings:
        em.record_failure(settings, "dbt column lineage", RuntimeError(warning))
    em.emit_events(built.events, settings)
    return built
