"""Lineage of one ingestion run, from its manifest and the source contract.

Inputs: the landing files read (raw text columns, content hash as version, records read) and,
for foreign-key checks, the referenced lake tables up to the interval end. Output: the lake
table with the written partition (``datasetVersion``, ``pipelines_partition``), schema,
ownership, documentation, field-level PII tags and column lineage:

* raw column -> lake column, DIRECT: ``IDENTITY`` for text kept as is; ``TRANSFORMATION``
  for strict type parsing; ``TRANSFORMATION`` with ``masking: true`` for pseudonymize,
  encrypt, generalize and scrub (the description names the method and key id, never keys);
* dataset-level INDIRECT ``FILTER`` for the row checks that quarantine records (type,
  required, range, allowed values, pattern, lateness, duplicate keys) and INDIRECT ``JOIN``
  for foreign-key checks against the referenced lake tables.

The run facet ``pipelines_ingestion`` holds the row accounting, quarantine counts by check,
key ids, contract version and the audit log's head (``audit_head``, which
``pipelines audit verify`` checks). The job facet ``sql`` is the ingestion SELECT for one landing
file, with pseudonymization written as the equivalent UDF ``pipelines_pseudonymize`` (the run
computes the same token inline from key-derived parameters, which never appear in SQL).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from pipelines.contracts import Column, Contract, ContractSet, ForeignKey
from pipelines.ingest.landing import landing_location
from pipelines.ingest.protect import UdfProtection
from pipelines.ingest.transform import staged_query
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from pipelines.lineage import datasets as ds
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.emit import LineageParts
from pipelines.protection.audit import head_record
from pipelines.protection.audit_pg import open_audit_log
from pipelines.protection_types import lineage_description, protection_type
from pipelines.rowchecks import names_by_column
from pipelines.settings import Settings

SOURCE = "pipelines/ingest/run.py"


def protection_edge(
    col: Column, contract: Contract, manifest: Manifest, namespace: str, name: str
) -> f.Edge:
    """How ingestion turns the raw text of ``col`` into its lake value (the landing field is
    named as it arrives: ``col.header``)."""
    if col.masked:
        purpose = protection_type(col.protection).key_purpose
        text = lineage_description(
            col.protection,
            key=manifest.key_versions.get(purpose, "?") if purpose else "?",
            table=contract.table,
            column=col.name,
            method=col.generalize.value if col.generalize else None,
            interval_end=manifest.interval_end[:10],
        )
        return f.Edge(namespace, name, col.header, f.DIRECT, f.TRANSFORMATION, text, masking=True)
    if col.type == "string":
        return f.Edge(namespace, name, col.header, f.DIRECT, f.IDENTITY, "copied as text")
    return f.Edge(
        namespace,
        name,
        col.header,
        f.DIRECT,
        f.TRANSFORMATION,
        f"parsed from text as {col.duckdb_type} (strict; unparsable values quarantined)",
    )


def row_check_names(contract: Contract) -> dict[str, list[str]]:
    """Column -> the ingestion checks that can quarantine a record because of it."""
    checks = defaultdict(list, names_by_column(contract))
    for key in contract.primary_key:
        checks[key].append("duplicate_key")
    return dict(checks)


def ingestion_sql(contract: Contract, interval: Interval) -> str:
    """Ingestion's SELECT for one landing file, keyed protections written as their UDFs."""
    return staged_query(contract, interval, "SELECT * FROM raw_records", UdfProtection()).sql


def _interval(manifest: Manifest) -> Interval:
    return Interval(
        datetime.fromisoformat(manifest.interval_start),
        datetime.fromisoformat(manifest.interval_end),
    )


def audit_head(settings: Settings) -> dict[str, Any] | None:
    """The audit log's head as stored (``seq`` and ``mac``), or None if unreadable."""
    return head_record(open_audit_log(settings))


def ingestion_lineage(
    manifest: Manifest,
    settings: Settings,
    contracts: ContractSet | None = None,
) -> LineageParts:
    """Inputs, output, column lineage and run facets of the run that wrote ``manifest``."""
    contracts = contracts or ds.contracts_for(settings)
    contract = contracts[manifest.table]
    interval = _interval(manifest)

    inputs = []
    fields: dict[str, list[f.Edge]] = defaultdict(list)
    dataset_edges: list[f.Edge] = []
    checks = row_check_names(contract)
    fk_columns = {fk.column: fk for fk in contract.foreign_keys}
    for entry in manifest.source_files:
        path = landing_location(settings, entry.path)  # a local path or an s3:// URL
        columns = [c for c in contract.column_names if c not in entry.missing_columns]
        inputs.append(
            ds.landing_file_input(
                path,
                contract,
                sha256=entry.sha256,
                records=entry.records,
                size=entry.bytes,
                columns=columns,
                settings=settings,
            )
        )
        ns, name = naming.landing_dataset(path)
        for col_name in columns:
            col = contract.column(col_name)
            if col.written:
                fields[col.lake_name].append(protection_edge(col, contract, manifest, ns, name))
            dataset_edges += _gating_edges(
                ns, name, col, checks.get(col_name), fk_columns.get(col_name)
            )

    for fk in contract.foreign_keys:
        ref = contracts[fk.ref_table]
        inputs.append(ds.lake_table_read(settings, ref, interval.end))
        ref_ns, ref_name = naming.lake_dataset(settings.lake_url or settings.lake, ref.table)
        dataset_edges.append(
            f.Edge(
                ref_ns,
                ref_name,
                ref.column(fk.ref_column).lake_name,
                f.INDIRECT,
                f.JOIN,
                f"orphan_fk: {contract.table}.{fk.column} must match {fk.references}",
            )
        )

    lineage = f.column_lineage(fields, dataset_edges)
    part = ds.written_partition(settings, manifest)
    output = ds.lake_partition_output(settings, contract, part, {"columnLineage": lineage})
    return LineageParts(
        inputs=inputs,
        outputs=[output],
        run_facets={"pipelines_ingestion": _run_facet(manifest, settings)},
        job_facets={
            "sql": ev.sql_facet(ingestion_sql(contract, interval)),
            "sourceCodeLocation": ev.source_location(SOURCE),
        },
    )


def _gating_edges(
    ns: str, name: str, col: Column, checks: list[str] | None, fk: ForeignKey | None
) -> list[f.Edge]:
    """A landing column's indirect edges: the row checks it feeds, the parent it must match."""
    edges = []
    if checks is not None:
        edges.append(
            f.Edge(
                ns,
                name,
                col.header,
                f.INDIRECT,
                f.FILTER,
                "quarantine checks: " + ", ".join(checks),
            )
        )
    if fk is not None:
        edges.append(
            f.Edge(
                ns,
                name,
                col.header,
                f.INDIRECT,
                f.JOIN,
                f"orphan_fk: anti-join with lake.{fk.references} up to the interval end",
            )
        )
    return edges


def _run_facet(manifest: Manifest, settings: Settings) -> Any:
    """The ``pipelines_ingestion`` run facet: the manifest's accounting and versions."""
    return f.custom(
        f.PipelinesIngestionRunFacet,
        table=manifest.table,
        partition=manifest.partition,
        interval_start=manifest.interval_start,
        interval_end=manifest.interval_end,
        read=manifest.counts.read,
        loaded=manifest.counts.loaded,
        quarantined=manifest.counts.quarantined,
        quarantine_by_check=dict(manifest.quarantine_by_check),
        key_versions=dict(manifest.key_versions),
        contract_version=manifest.contract_version,
        contract_fingerprint=manifest.contract_fingerprint,
        dataset_version=manifest.dataset_version,
        quarantine_version=manifest.quarantine_version,
        source_files=len(manifest.source_files),
        audit_head=audit_head(settings),
    )
