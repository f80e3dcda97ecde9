"""Facets: small builders for the standard ones and this project's custom ``pipelines_*`` facets.

Custom facets are attrs classes like openlineage-python's own (a ``_producer`` and a
``_schemaURL`` each), so they serialize the same way and the tests derive and check their JSON
Schemas with the standard ones. They hold names, counts, versions and check outcomes only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import attr
from openlineage.client.generated import (
    column_lineage_dataset,
    dataset_version_dataset,
    documentation_dataset,
    ownership_dataset,
    schema_dataset,
    symlinks_dataset,
    tags_dataset,
)
from openlineage.client.generated.base import DatasetFacet, RunFacet

from pipelines.lineage.naming import PRODUCER, SYMLINK_TYPE, custom_facet_schema_url, job_namespace

# Column lineage ------------------------------------------------------------------------------

DIRECT = "DIRECT"
INDIRECT = "INDIRECT"
IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"
JOIN = "JOIN"
FILTER = "FILTER"
GROUP_BY = "GROUP_BY"
SORT = "SORT"
WINDOW = "WINDOW"
CONDITIONAL = "CONDITIONAL"


@dataclass(frozen=True)
class Edge:
    """One input column of an output column (or of the whole dataset), and how it is used."""

    namespace: str
    name: str
    field: str
    type: str = DIRECT
    subtype: str = IDENTITY
    description: str | None = None
    masking: bool = False

    def transformation(self) -> column_lineage_dataset.Transformation:
        return column_lineage_dataset.Transformation(
            type=self.type,
            subtype=self.subtype,
            description=self.description,
            masking=self.masking,
        )


def _input_fields(edges: Iterable[Edge]) -> list[column_lineage_dataset.InputField]:
    grouped: dict[tuple[str, str, str], list[column_lineage_dataset.Transformation]] = {}
    for edge in edges:
        transformations = grouped.setdefault((edge.namespace, edge.name, edge.field), [])
        t = edge.transformation()
        if t not in transformations:
            transformations.append(t)
    return [
        column_lineage_dataset.InputField(
            namespace=ns, name=name, field=field, transformations=transformations
        )
        for (ns, name, field), transformations in grouped.items()
    ]


def column_lineage(
    fields: Mapping[str, Sequence[Edge]], dataset: Sequence[Edge] = ()
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """``columnLineage``: per output field its input fields; dataset-level indirect edges."""
    return column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            name: column_lineage_dataset.Fields(inputFields=_input_fields(edges))
            for name, edges in fields.items()
            if edges
        },
        dataset=_input_fields(dataset),
        producer=PRODUCER,
    )


# Standard dataset facets ---------------------------------------------------------------------


def schema(
    fields: Iterable[tuple[str, str | None, str | None]],
) -> schema_dataset.SchemaDatasetFacet:
    """``schema`` from ``(name, type, description)`` triples, in column order."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=name, type=type_, description=description, ordinal_position=i
            )
            for i, (name, type_, description) in enumerate(fields, 1)
        ],
        producer=PRODUCER,
    )


def symlink(logical_name: str) -> symlinks_dataset.SymlinksDatasetFacet:
    return symlinks_dataset.SymlinksDatasetFacet(
        identifiers=[
            symlinks_dataset.Identifier(
                namespace=job_namespace(), name=logical_name, type=SYMLINK_TYPE
            )
        ],
        producer=PRODUCER,
    )


def dataset_version(version: str) -> dataset_version_dataset.DatasetVersionDatasetFacet:
    return dataset_version_dataset.DatasetVersionDatasetFacet(
        datasetVersion=version, producer=PRODUCER
    )


def ownership(owner: str) -> ownership_dataset.OwnershipDatasetFacet:
    return ownership_dataset.OwnershipDatasetFacet(
        owners=[ownership_dataset.Owner(name=owner, type="MAINTAINER")], producer=PRODUCER
    )


def documentation(text: str) -> documentation_dataset.DocumentationDatasetFacet:
    return documentation_dataset.DocumentationDatasetFacet(
        description=text, contentType="text/plain", producer=PRODUCER
    )


@dataclass(frozen=True)
class FieldTag:
    field: str
    pii: str
    protection: str


def pii_tags(
    columns: Iterable[FieldTag], undeclared: Iterable[tuple[str, str]] = ()
) -> tags_dataset.TagsDatasetFacet:
    """``tags``: ``pii=<class>`` and ``protection=<method>`` per personal-data field, and
    ``undeclared_pii=<detector>`` (source ``ingestion``) per ``(field, detector)`` that
    ingestion found in a field the contract keeps in clear."""
    tags: list[tags_dataset.TagsDatasetFacetFields] = [
        tags_dataset.TagsDatasetFacetFields(
            key="undeclared_pii", value=entity, source="ingestion", field=name
        )
        for name, entity in undeclared
    ]
    for c in columns:
        if c.pii == "none":
            continue
        tags.append(
            tags_dataset.TagsDatasetFacetFields(
                key="pii", value=c.pii, source="contract", field=c.field
            )
        )
        tags.append(
            tags_dataset.TagsDatasetFacetFields(
                key="protection", value=c.protection, source="contract", field=c.field
            )
        )
    return tags_dataset.TagsDatasetFacet(tags=tags, producer=PRODUCER)


# Custom facets -------------------------------------------------------------------------------


def _custom(cls: type) -> type:
    """Give a custom facet class its schema URL (``_get_schema``) from its name."""
    url = custom_facet_schema_url(cls.__name__)
    cls._get_schema = staticmethod(lambda: url)  # type: ignore[attr-defined]
    return cls


@_custom
@attr.define
class PipelinesAirflowRunFacet(RunFacet):
    """``pipelines_airflow``: the Airflow identifiers of this run (absent outside Airflow)."""

    dag_id: str
    run_id: str
    task_id: str | None = attr.field(default=None)
    try_number: int | None = attr.field(default=None)


@_custom
@attr.define
class PipelinesPartitionDatasetFacet(DatasetFacet):
    """``pipelines_partition``: the lake partition an event wrote or read."""

    table: str
    partition: str
    interval_start: str
    interval_end: str
    manifest: str
    """Where the manifest is: its ``manifest.json``, or its DuckLake catalog row."""
    rows_loaded: int
    rows_quarantined: int
    snapshot: int | None = attr.field(default=None)
    """The DuckLake catalog snapshot that committed this version (None without a catalog)."""


@_custom
@attr.define
class PipelinesPartitionsDatasetFacet(DatasetFacet):
    """``pipelines_partitions``: a read of every partition of a table up to ``read_until``.

    Used for foreign-key lookups, which read many partitions: a count, the first and last
    partition and a SHA-256 over the sorted ``partition=dataset_version`` lines instead of
    one dataset per partition.
    """

    table: str
    read_until: str
    partitions: int
    first_partition: str | None = attr.field(default=None)
    last_partition: str | None = attr.field(default=None)
    versions_sha256: str | None = attr.field(default=None)


@_custom
@attr.define
class PipelinesIngestionRunFacet(RunFacet):
    """``pipelines_ingestion``: the row accounting and versions of one ingestion run."""

    table: str
    partition: str
    interval_start: str
    interval_end: str
    read: int
    loaded: int
    quarantined: int
    quarantine_by_check: dict[str, int]
    key_versions: dict[str, str]
    contract_version: int
    contract_fingerprint: str
    dataset_version: str
    quarantine_version: str
    source_files: int
    audit_head: dict[str, Any] | None = attr.field(default=None)
    """The audit log's head (``seq``, ``mac``) when the run ended: ``pipelines audit verify``
    checks that the log still holds it (entries cut from its end are caught)."""


@_custom
@attr.define
class PipelinesQualityRunFacet(RunFacet):
    """``pipelines_quality``: one table's validation: outcome counts, gate quarantine."""

    table: str
    partition: str
    checks: int
    passed: int
    warned: int
    failed: int
    failed_checks: list[str]
    quarantined: dict[str, int]
    dataset_version_validated: str | None = attr.field(default=None)
    dataset_version_published: str | None = attr.field(default=None)


@_custom
@attr.define
class PipelinesGateRunFacet(RunFacet):
    """``pipelines_gate``: the quality gate's decision for a run (check names, no values)."""

    passed: bool
    interval_start: str
    interval_end: str
    failed_checks: list[str]
    missing_tables: list[str]
    tables: dict[str, dict[str, int]]
    audit_head: dict[str, Any] | None = attr.field(default=None)
    """The audit log's head when the gate decided (see ``PipelinesIngestionRunFacet``)."""


@attr.define
class ReleasePartition:
    table: str
    partition: str
    dataset_version: str
    interval_start: str
    interval_end: str
    run_id: str | None = attr.field(default=None)
    snapshot: int | None = attr.field(default=None)
    """The DuckLake catalog snapshot that committed the version (None without a catalog)."""


@attr.define
class AnonymityCheck:
    """One feature table's k-anonymity at publication (the gate in ``privacy.anonymity``)."""

    table: str
    k: int
    required_k: int
    enforced: bool
    blocked: bool
    suppressed: int = attr.field(default=0)
    audit_seq: int | None = attr.field(default=None)  # the decision's audit log entry


@_custom
@attr.define
class PipelinesReleaseRunFacet(RunFacet):
    """``pipelines_release``: the lake partitions a feature build used; at publication, the
    k-anonymity gate's result per table."""

    partitions: list[ReleasePartition]
    anonymity: list[AnonymityCheck] = attr.field(factory=list)


@_custom
@attr.define
class PipelinesDbtRunFacet(RunFacet):
    """``pipelines_dbt``: how dbt reported a model (status, time, rows affected)."""

    unique_id: str
    status: str
    materialization: str | None = attr.field(default=None)
    execution_seconds: float | None = attr.field(default=None)
    rows_affected: int | None = attr.field(default=None)
    invocation_id: str | None = attr.field(default=None)


@attr.define
class TrainingFeatureInput:
    table: str
    release_id: str
    as_of: str
    snapshot_sha256: str
    columns: list[str]


@_custom
@attr.define
class PipelinesTrainingRunFacet(RunFacet):
    """``pipelines_training``: what a training run consumed (feature releases, label source)
    and what it made (model name and version)."""

    model: str
    model_version: str
    features: list[TrainingFeatureInput]
    label_source: str
    label_tables: list[str]
    training_rows: int
    purpose: str = ""


@_custom
@attr.define
class PipelinesModelDatasetFacet(DatasetFacet):
    """``pipelines_model``: a trained model's parameters, metrics and code version (names and
    numbers only)."""

    model: str
    version: str
    algorithm: str
    parameters: dict[str, str]
    metrics: dict[str, float]
    code_version: str | None = attr.field(default=None)
    artifact_sha256: str | None = attr.field(default=None)
    card: str | None = attr.field(default=None)


@_custom
@attr.define
class PipelinesPrivacyRunFacet(RunFacet):
    """``pipelines_privacy``: a privacy action (erasure, retention purge, DP release) and the
    audit entry recording it; counts, epsilon and dataset names only, never the subject. A
    DP release names where it went and that destination's jurisdiction (policy.yml)."""

    action: str
    audit_seq: int | None
    rows_removed: int = attr.field(default=0)
    artifacts: int = attr.field(default=0)
    epsilon: float | None = attr.field(default=None)
    dataset: str | None = attr.field(default=None)
    releases: int = attr.field(default=0)
    refused: int = attr.field(default=0)
    destination: str | None = attr.field(default=None)
    destination_jurisdiction: str | None = attr.field(default=None)


@_custom
@attr.define
class PipelinesJurisdictionDatasetFacet(DatasetFacet):
    """``pipelines_jurisdiction``: where the data subjects this dataset derives from live
    (``subjects``, jurisdiction codes of the policy file) and what says so (``source``: the
    policy entry, or the inputs of the run it was derived in)."""

    subjects: list[str]
    source: str


def jurisdiction(subjects: Iterable[str], source: str) -> PipelinesJurisdictionDatasetFacet:
    facet: PipelinesJurisdictionDatasetFacet = custom(
        PipelinesJurisdictionDatasetFacet, subjects=sorted(set(subjects)), source=source
    )
    return facet


CUSTOM_FACETS: dict[str, type] = {
    "pipelines_airflow": PipelinesAirflowRunFacet,
    "pipelines_partition": PipelinesPartitionDatasetFacet,
    "pipelines_partitions": PipelinesPartitionsDatasetFacet,
    "pipelines_ingestion": PipelinesIngestionRunFacet,
    "pipelines_quality": PipelinesQualityRunFacet,
    "pipelines_gate": PipelinesGateRunFacet,
    "pipelines_release": PipelinesReleaseRunFacet,
    "pipelines_dbt": PipelinesDbtRunFacet,
    "pipelines_training": PipelinesTrainingRunFacet,
    "pipelines_model": PipelinesModelDatasetFacet,
    "pipelines_privacy": PipelinesPrivacyRunFacet,
    "pipelines_jurisdiction": PipelinesJurisdictionDatasetFacet,
}
"""Facet key -> class of every custom facet this project emits."""


def custom(cls: type, **values: Any) -> Any:
    """Instantiate a custom facet with this project's producer."""
    return cls(**values, producer=PRODUCER)
