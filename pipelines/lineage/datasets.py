"""Dataset builders shared by the emitters: landing files, lake partitions, warehouse relations.

Each returns the dataset's facets (names, types, versions, counts; never values) so an
emitter only adds what is specific to its job (column lineage, quality facets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.generated import (
    input_statistics_input_dataset,
    output_statistics_output_dataset,
)

from pipelines.contracts import Contract, ContractSet, load_contracts
from pipelines.lake.manifest import DATA_NAME, Manifest
from pipelines.lake.partitions import Partition, in_partition, partitions_until, published
from pipelines.lake.storage import catalog_of, lake_store
from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.events import input_dataset, output_dataset
from pipelines.lineage.jurisdiction import facets_for
from pipelines.settings import Settings

SOURCE_FILE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("_source_file", "VARCHAR", "Landing file the row came from (path relative to landing)."),
    ("_source_row", "BIGINT", "1-based record number of the row in its landing file."),
)


_CONTRACTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], ContractSet] = {}


def _signature(folder: Path, pattern: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob(pattern))
    )


def contracts_for(settings: Settings) -> ContractSet:
    """The contracts, parsed once per process (again only when a file changes).

    Parsing them takes a few hundred milliseconds; every event builder needs them.
    """
    folder = settings.contracts_dir
    key = (str(folder), _signature(folder, "*.yml"))
    found = _CONTRACTS.get(key)
    if found is None:
        found = load_contracts(folder)
        _CONTRACTS.clear()
        _CONTRACTS[key] = found
    return found


def contract_facets(contract: Contract) -> dict[str, Any]:
    """``ownership`` and ``documentation`` from the source contract."""
    return {
        "ownership": f.ownership(contract.owner),
        "documentation": f.documentation(contract.description),
    }


def lake_schema(contract: Contract) -> Any:
    return f.schema(
        [
            *((c.lake_name, c.lake_type, c.description) for c in contract.written_columns),
            *SOURCE_FILE_COLUMNS,
        ]
    )


def lake_tags(contract: Contract, manifest: Manifest | None = None) -> Any:
    """PII tags from the contract, and the undeclared personal data ``manifest``'s ingestion
    found (``undeclared_pii=<detector>`` on the column)."""
    undeclared = [
        (contract.column(u.column).lake_name, u.entity)
        for u in (manifest.undeclared_pii if manifest else [])
    ]
    return f.pii_tags(
        (
            f.FieldTag(c.lake_name, c.pii.value, c.protection.value)
            for c in contract.written_columns
        ),
        undeclared,
    )


def landing_tags(contract: Contract) -> Any:
    return f.pii_tags(
        f.FieldTag(c.header, c.pii.value, c.protection.value) for c in contract.columns
    )


def partition_facet(
    part: Partition, *, loaded: int | None = None, quarantined: int | None = None
) -> Any:
    """``pipelines_partition`` of ``part`` (row counts its manifest's unless given); with a
    DuckLake catalog its ``snapshot`` and, as ``manifest``, its catalog row."""
    manifest = part.manifest
    return f.custom(
        f.PipelinesPartitionDatasetFacet,
        table=manifest.table,
        partition=manifest.partition,
        interval_start=manifest.interval_start,
        interval_end=manifest.interval_end,
        manifest=part.manifest_location,
        rows_loaded=manifest.counts.loaded if loaded is None else loaded,
        rows_quarantined=manifest.counts.quarantined if quarantined is None else quarantined,
        snapshot=part.snapshot,
    )


def lake_partition_facets(
    settings: Settings, contract: Contract, part: Partition
) -> dict[str, Any]:
    """Facets of a lake table as one partition of it was written or read: ``datasetVersion``
    is the data file's SHA-256 (what verified reads check), ``pipelines_partition`` adds the
    catalog snapshot that committed it."""
    return {
        "schema": lake_schema(contract),
        "symlinks": f.symlink(naming.lake_symlink(contract.table)),
        "datasetVersion": f.dataset_version(part.manifest.dataset_version),
        "pipelines_partition": partition_facet(part),
        "tags": lake_tags(contract, part.manifest),
        **contract_facets(contract),
        **facets_for(settings, contract.table),
    }


def written_partition(settings: Settings, manifest: Manifest) -> Partition:
    """The partition a run published with ``manifest``, with its catalog snapshot when the
    catalog still holds that manifest (else, replaced since, without a snapshot)."""
    store = lake_store(settings)
    part = Partition(manifest.table, manifest.partition, manifest, store)
    if catalog_of(store) is None:
        return part
    now = published(store, manifest.table, manifest.partition)
    return now if now is not None and now.manifest == manifest else part


def lake_partition_input(
    settings: Settings,
    contract: Contract,
    part: Partition,
    input_facets: dict[str, Any] | None = None,
) -> InputDataset:
    ns, name = naming.lake_dataset(settings.lake_url or settings.lake, contract.table)
    return input_dataset(ns, name, lake_partition_facets(settings, contract, part), input_facets)


def lake_partition_output(
    settings: Settings, contract: Contract, part: Partition, extra: dict[str, Any]
) -> OutputDataset:
    ns, name = naming.lake_dataset(settings.lake_url or settings.lake, contract.table)
    data = Path(in_partition(part.location, DATA_NAME))  # a local file, else not found: no size
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=part.manifest.counts.loaded,
        size=data.stat().st_size if data.is_file() else None,
        fileCount=1,
        producer=naming.PRODUCER,
    )
    return output_dataset(
        ns,
        name,
        {**lake_partition_facets(settings, contract, part), **extra},
        {"outputStatistics": stats},
    )


def partition_set_facet(table: str, parts: Sequence[Partition], until: datetime) -> Any:
    lines = sorted(f"{p.name}={p.manifest.dataset_version}" for p in parts)
    names = sorted(p.name for p in parts)
    return f.custom(
        f.PipelinesPartitionsDatasetFacet,
        table=table,
        read_until=until.isoformat(),
        partitions=len(parts),
        first_partition=names[0] if names else None,
        last_partition=names[-1] if names else None,
        versions_sha256=hashlib.sha256("\n".join(lines).encode()).hexdigest() if lines else None,
    )


def lake_table_read(settings: Settings, contract: Contract, until: datetime) -> InputDataset:
    """A read of every partition of a table up to ``until`` (foreign-key lookups)."""
    parts = partitions_until(lake_store(settings), contract.table, until)
    ns, name = naming.lake_dataset(settings.lake_url or settings.lake, contract.table)
    return input_dataset(
        ns,
        name,
        {
            "schema": lake_schema(contract),
            "symlinks": f.symlink(naming.lake_symlink(contract.table)),
            "pipelines_partitions": partition_set_facet(contract.table, parts, until),
            "tags": lake_tags(contract),
            **contract_facets(contract),
            **facets_for(settings, contract.table),
        },
    )


def landing_file_input(
    path: Path | str,
    contract: Contract,
    *,
    sha256: str,
    records: int,
    size: int,
    columns: Sequence[str],
    settings: Settings | None = None,
) -> InputDataset:
    """A landing file: raw text columns (``columns`` are contract names; the fields are named
    as they arrive, ``source_name``), its content hash as version, records read; with
    ``settings``, its subjects' jurisdiction from the policy."""
    ns, name = naming.landing_dataset(path)
    return input_dataset(
        ns,
        name,
        {
            "schema": f.schema(
                (contract.column(c).header, "VARCHAR", contract.column(c).description)
                for c in columns
                if c in contract.column_names
            ),
            "symlinks": f.symlink(naming.landing_symlink(contract.table)),
            "datasetVersion": f.dataset_version(sha256),
            "tags": landing_tags(contract),
            **contract_facets(contract),
            **(facets_for(settings, contract.table) if settings else {}),
        },
        {
            "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=records, size=size, fileCount=1, producer=naming.PRODUCER
            )
        },
    )


def snapshot_columns(snapshot: Path) -> list[tuple[str, str]]:
    """``(name, type)`` of a feature snapshot file, from its Parquet footer."""
    import pyarrow.parquet as pq

    return [(field.name, str(field.type)) for field in pq.read_schema(snapshot)]


def feature_snapshot_facets(
    table: str,
    snapshot: Path,
    version: str,
    columns: Sequence[tuple[str, str]] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Facets of a feature table as one snapshot file of it was written or read; ``version``
    is the file's SHA-256, which the caller already has (export, validation, release);
    ``columns`` are :func:`snapshot_columns`, read from the file when not given; with
    ``settings``, its subjects' jurisdictions from the policy."""
    columns = snapshot_columns(snapshot) if columns is None else columns
    return {
        "schema": f.schema((name, type_, None) for name, type_ in columns),
        "symlinks": f.symlink(naming.feature_symlink(table)),
        "datasetVersion": f.dataset_version(version),
        "documentation": f.documentation(
            f"Feature snapshot {snapshot.parent.name} of {table}: one row per entity, "
            "served to ML teams by pipelines.features.load_features."
        ),
        **(facets_for(settings, table) if settings else {}),
    }
