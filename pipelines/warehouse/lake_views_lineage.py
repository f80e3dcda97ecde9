"""Lineage of exposing lake partitions to the warehouse as ``warehouse.lake.<table>`` views.

One run of job ``<build task>.lake_views`` (parent: the build task's run): inputs are the lake
tables with the partitions used (one partition: its ``datasetVersion`` and
``pipelines_partition``; several: a ``pipelines_partitions`` set), outputs the views with
IDENTITY column lineage from the lake columns and the registry ``warehouse.lake.partitions``.
The ``pipelines_release`` run facet lists every partition used, with its dataset version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from openlineage.client.event_v2 import InputDataset, RunEvent, RunState

from pipelines.contracts import Contract, ContractSet
from pipelines.lake.partitions import Partition
from pipelines.lineage import client, naming
from pipelines.lineage import datasets as ds
from pipelines.lineage import emit as em
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.settings import Settings

SOURCE = "pipelines/warehouse/lake_views.py"
REGISTRY = "partitions"


def view_columns(contract: Contract) -> list[tuple[str, str]]:
    """The columns of ``lake.<table>`` as the warehouse defines them."""
    from pipelines.warehouse.lake_views import lake_columns

    return lake_columns(contract)


def registry_columns() -> list[tuple[str, str]]:
    from pipelines.warehouse.lake_views import PARTITIONS_COLUMNS

    return list(PARTITIONS_COLUMNS)


def _lake_input(settings: Settings, contract: Contract, parts: Sequence[Partition]) -> InputDataset:
    if len(parts) == 1:
        part = parts[0]
        return ds.lake_partition_input(settings, contract, part)
    until = max((p.interval.end for p in parts), default=None)
    ns, name = naming.lake_dataset(settings.lake_url or settings.lake, contract.table)
    facets: dict[str, object] = {
        "schema": ds.lake_schema(contract),
        "symlinks": f.symlink(naming.lake_symlink(contract.table)),
        "tags": ds.lake_tags(contract),
        **ds.contract_facets(contract),
    }
    if until is not None:
        facets["pipelines_partitions"] = ds.partition_set_facet(contract.table, parts, until)
    return ev.input_dataset(ns, name, facets)


def lake_view_lineage(
    selection: Mapping[str, Sequence[Partition]],
    settings: Settings,
    *,
    warehouse: Path | None = None,
    contracts: ContractSet | None = None,
) -> em.LineageParts:
    contracts = contracts or ds.contracts_for(settings)
    warehouse = warehouse or settings.warehouse
    descriptions = {
        "_source_file": "Landing file the row came from (path relative to landing).",
        "_source_row": "1-based record number of the row in its landing file.",
        "_partition": "Lake partition of the row (from lake.partitions).",
        "_dataset_version": "Dataset version (SHA-256 of data.parquet) of the row's partition.",
    }
    inputs = []
    outputs = []
    release = []
    for table in contracts.load_order():
        contract = contracts[table]
        parts = list(selection.get(table, []))
        lake_ns, lake_name = naming.lake_dataset(settings.lake_url or settings.lake, table)
        if parts:
            inputs.append(_lake_input(settings, contract, parts))
        for part in parts:
            m = part.manifest
            release.append(
                f.ReleasePartition(
                    table=table,
                    partition=part.name,
                    dataset_version=m.dataset_version,
                    interval_start=m.interval_start,
                    interval_end=m.interval_end,
                    run_id=m.run_id,
                )
            )
        by_lake_name = {c.lake_name: c for c in contract.written_columns}
        columns = view_columns(contract)
        fields: dict[str, list[f.Edge]] = {}
        if parts:
            for name, _ in columns:
                if name in by_lake_name or name in ("_source_file", "_source_row"):
                    fields[name] = [f.Edge(lake_ns, lake_name, name, f.DIRECT, f.IDENTITY)]
        ns, name = naming.warehouse_dataset(warehouse, "lake", table)
        outputs.append(
            ev.output_dataset(
                ns,
                name,
                {
                    "schema": f.schema(
                        (
                            c,
                            t,
                            by_lake_name[c].description
                            if c in by_lake_name
                            else descriptions.get(c),
                        )
                        for c, t in columns
                    ),
                    "symlinks": f.symlink(naming.warehouse_symlink(table)),
                    "tags": ds.lake_tags(contract),
                    "columnLineage": f.column_lineage(fields),
                    **ds.contract_facets(contract),
                },
            )
        )
    ns, name = naming.warehouse_dataset(warehouse, "lake", REGISTRY)
    outputs.append(
        ev.output_dataset(
            ns,
            name,
            {
                "schema": f.schema((c, t, None) for c, t in registry_columns()),
                "symlinks": f.symlink(naming.warehouse_symlink(REGISTRY)),
                "documentation": f.documentation(
                    "The lake partitions exposed to the warehouse (the feature build's release)."
                ),
            },
        )
    )
    return em.LineageParts(
        inputs=inputs,
        outputs=outputs,
        run_facets={"pipelines_release": f.custom(f.PipelinesReleaseRunFacet, partitions=release)},
        job_facets={
            "sourceCodeLocation": ev.source_location(SOURCE),
            "jobType": ev.job_type("QUERY"),
        },
    )


def lake_view_events(
    selection: Mapping[str, Sequence[Partition]],
    settings: Settings,
    *,
    parent: ev.RunRef | None = None,
    warehouse: Path | None = None,
    contracts: ContractSet | None = None,
    started: datetime | None = None,
) -> list[RunEvent]:
    """START and COMPLETE of the ``lake_views`` step (built, not sent)."""
    if parent is None:
        current = em.current_task()
        parent = current.run if current is not None else None
    if parent is None:
        parent = ev.task_run_ref(naming.BUILD_TASK, None)
    run = ev.step_run_ref(parent, naming.LAKE_VIEWS_STEP)
    parts = lake_view_lineage(selection, settings, warehouse=warehouse, contracts=contracts)
    start = ev.run_event(
        RunState.START,
        run,
        job_facets=parts.job_facets,
        event_time=started.isoformat() if started else None,
    )
    complete = ev.run_event(
        RunState.COMPLETE,
        run,
        inputs=parts.inputs,
        outputs=parts.outputs,
        run_facets=parts.run_facets,
        job_facets=parts.job_facets,
    )
    return [start, complete]


def emit_lake_registration(
    selection: Mapping[str, Sequence[Partition]],
    *,
    settings: Settings,
    parent: ev.RunRef | None = None,
    warehouse: Path | None = None,
    contracts: ContractSet | None = None,
    started: datetime | None = None,
) -> int:
    """Emit START + COMPLETE for registering ``selection`` as ``warehouse.lake.*`` views.

    Call it after ``register_lake`` succeeded. ``parent`` defaults to the enclosing
    ``task_run`` (the build task). Returns the number of events sent; never raises.
    """
    if client.disabled():
        return 0
    try:
        built = lake_view_events(
            selection,
            settings,
            parent=parent,
            warehouse=warehouse,
            contracts=contracts,
            started=started,
        )
    except Exception as exc:
        em.record_failure(settings, "building lake_views events", exc)
        return 0
    return em.emit_events(built, settings)
