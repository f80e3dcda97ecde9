"""Lineage of the feature stage: the exported snapshots, their checks, the publication.

``build_features`` (its steps are the lake views and one run per dbt model, see
:mod:`pipelines.warehouse.lake_views_lineage` and :mod:`pipelines.warehouse.dbt_lineage`): inputs = the released
lake partitions, outputs = one snapshot dataset per feature table (``file`` /
``<data_dir>/features/<table>``, short name ``features.<table>``) with the snapshot file's
SHA-256 as ``datasetVersion`` and IDENTITY column lineage from ``warehouse.marts.<table>``;
the release (``pipelines_release``: every lake partition and version used) as a run facet.

``check_<table>``: input = the snapshot as validated, with ``dataQualityAssertions``.
``publish_features``: inputs = the snapshots; ``pipelines_release`` again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openlineage.client.generated import output_statistics_output_dataset

from pipelines.lake.storage import lake_store
from pipelines.lineage import datasets as ds
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.checks import assertions_facet, metrics_facet, quality_run_facet
from pipelines.lineage.emit import LineageParts
from pipelines.settings import Settings
from pipelines.warehouse.project import MARTS_SCHEMA

SOURCE = "pipelines/features/tasks.py"


def _release_facet(release: Any) -> Any:
    return f.custom(
        f.PipelinesReleaseRunFacet,
        partitions=[
            f.ReleasePartition(
                table=p.table,
                partition=p.partition,
                dataset_version=p.dataset_version,
                interval_start=p.interval_start,
                interval_end=p.interval_end,
                run_id=p.ingest_run_id,
                snapshot=p.snapshot,
            )
            for p in release.partitions
        ],
        anonymity=[
            f.AnonymityCheck(
                table=table,
                k=int(a.get("k") or 0),
                required_k=int(a.get("required_k") or 0),
                enforced=bool(a.get("enforced")),
                blocked=bool(a.get("enforced") and a.get("problems")),
                suppressed=int(a.get("suppressed") or 0),
                audit_seq=a.get("audit_seq"),
            )
            for table, a in sorted((release.checks.get("anonymity") or {}).items())
        ],
    )


def snapshot_facets(
    settings: Settings, table: str, snapshot: Path, version: str, *, with_lineage: bool
) -> dict[str, Any]:
    """:func:`~pipelines.lineage.datasets.feature_snapshot_facets`, and with ``with_lineage``
    (the build's output) IDENTITY column lineage from ``warehouse.marts.<table>``."""
    columns = ds.snapshot_columns(snapshot)
    facets = ds.feature_snapshot_facets(table, snapshot, version, columns, settings)
    if with_lineage:
        mart_ns, mart = naming.warehouse_dataset(settings.warehouse, MARTS_SCHEMA, table)
        facets["columnLineage"] = f.column_lineage(
            {
                name: [
                    f.Edge(
                        mart_ns,
                        mart,
                        name,
                        # the same for every build, so one edge stands for all snapshots
                        description="exported to Parquet: the rows of one as_of_date",
                    )
                ]
                for name, _ in columns
            }
        )
    return facets


def build_lineage(settings: Settings, release: Any) -> LineageParts:
    """The build task's inputs (released lake partitions) and outputs (the snapshots)."""
    contracts = ds.contracts_for(settings)
    inputs = [
        ds.lake_partition_input(settings, contracts[table], part)
        for table, parts in release.selection(lake_store(settings)).items()
        if table in contracts
        for part in parts
    ]
    outputs = []
    for table, info in sorted(release.features.items()):
        snapshot = Path(info["file"])
        ns, name = naming.feature_dataset(snapshot.parent.parent.parent, table)
        stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=int(info["rows"]),
            size=snapshot.stat().st_size,
            fileCount=1,
            producer=naming.PRODUCER,
        )
        outputs.append(
            ev.output_dataset(
                ns,
                name,
                snapshot_facets(settings, table, snapshot, info["sha256"], with_lineage=True),
                {"outputStatistics": stats},
            )
        )
    return LineageParts(
        inputs=inputs,
        outputs=outputs,
        run_facets={"pipelines_release": _release_facet(release)},
        job_facets={"sourceCodeLocation": ev.source_location(SOURCE)},
    )


def check_lineage(settings: Settings, validation: Any, snapshot: Path) -> LineageParts:
    """A feature check task: the snapshot it validated, with the checks' outcomes."""
    ns, name = naming.feature_dataset(snapshot.parent.parent.parent, validation.table)
    rows = next(
        (
            int(c.element_count)
            for c in validation.checks
            if c.element_count is not None and not c.error
        ),
        0,
    )
    version = validation.dataset_version
    run_facet = quality_run_facet(validation, version, version)
    return LineageParts(
        inputs=[
            ev.input_dataset(
                ns,
                name,
                snapshot_facets(
                    settings, validation.table, snapshot, str(version), with_lineage=False
                ),
                {
                    "dataQualityAssertions": assertions_facet(validation.checks),
                    "dataQualityMetrics": metrics_facet(validation.checks, rows),
                },
            )
        ],
        run_facets={"pipelines_quality": run_facet},
        job_facets={"sourceCodeLocation": ev.source_location("pipelines/quality/features.py")},
    )


def publish_lineage(settings: Settings, release: Any) -> LineageParts:
    """The publication decision: the snapshots it served (or refused) and the release."""
    inputs = []
    for table, info in sorted(release.features.items()):
        snapshot = Path(info["file"])
        if snapshot.is_file():
            ns, name = naming.feature_dataset(snapshot.parent.parent.parent, table)
            inputs.append(
                ev.input_dataset(
                    ns,
                    name,
                    # the file the decision hashed (publish decides before it reports): a
                    # snapshot rewritten after its checks shows here
                    snapshot_facets(
                        settings, table, snapshot, info["decided_sha256"], with_lineage=False
                    ),
                )
            )
    return LineageParts(
        inputs=inputs,
        run_facets={"pipelines_release": _release_facet(release)},
        job_facets={"sourceCodeLocation": ev.source_location(SOURCE)},
    )
