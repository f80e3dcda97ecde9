"""Lineage of a training run: the feature snapshots and label source in, the model out.

Inputs are the *same* datasets the feature stage wrote (``file`` / ``<data_dir>/features/
<table>``, short name ``features.<table>``) with the snapshot file's SHA-256 as
``datasetVersion``, and the lake partitions the labels were derived from (``lake.<table>``
with their partition ``datasetVersion``), as the feature build reads them.

The output is the model (``file`` / ``<data_dir>/models/<name>``, short name
``model.<name>``) with its version as ``datasetVersion``, a ``schema`` of the model's inputs
(each feature column it uses, and ``label``), ``columnLineage`` from each of them to the
feature or lake column it came from (so ``pipelines lineage trace model:<name>`` walks on down
to the landing files), and ``pipelines_model`` (algorithm, parameters, metrics, code version).
The run carries ``pipelines_training`` (releases used, label source, rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.lineage import datasets as ds
from pipelines.lineage import events as ev
from pipelines.lineage import facets as f
from pipelines.lineage import naming
from pipelines.lineage.emit import LineageParts
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.models.record import TrainingRecord

SOURCE = "pipelines/models/record.py"
LABEL_FIELD = "label"


def _feature_inputs(settings: Settings, record: TrainingRecord) -> list[Any]:
    inputs = []
    for used in record.features:
        ns, name = naming.feature_dataset(used.file.parent.parent.parent, used.table)
        inputs.append(
            ev.input_dataset(
                ns,
                name,
                ds.feature_snapshot_facets(used.table, used.file, used.sha256, settings=settings),
            )
        )
    return inputs


def _label_inputs(settings: Settings, record: TrainingRecord) -> list[Any]:
    contracts = ds.contracts_for(settings)
    return [
        ds.lake_partition_input(settings, contracts[part.table], part)
        for part in record.labels.partitions
        if part.table in contracts
    ]


def _model_fields(settings: Settings, record: TrainingRecord) -> dict[str, list[f.Edge]]:
    fields: dict[str, list[f.Edge]] = {}
    for used in record.features:
        ns, name = naming.feature_dataset(used.file.parent.parent.parent, used.table)
        for column in used.columns:
            fields[record.field_name(used.table, column)] = [
                f.Edge(
                    ns,
                    name,
                    column,
                    type=f.DIRECT,
                    subtype=f.TRANSFORMATION,
                    description="model input feature",
                )
            ]
    edges = []
    for table, column in record.labels.columns:
        lake_ns, lake_name = naming.lake_dataset(settings.lake_url or settings.lake, table)
        edges.append(
            f.Edge(
                lake_ns,
                lake_name,
                column,
                type=f.DIRECT,
                subtype=f.TRANSFORMATION,
                description="label derived from",
            )
        )
    if edges:
        fields[LABEL_FIELD] = edges
    return fields


def model_output(settings: Settings, record: TrainingRecord) -> Any:
    """The model as an output dataset (see the module docstring)."""
    ns, name = naming.model_dataset(record.models_dir, record.model)
    fields = _model_fields(settings, record)
    return ev.output_dataset(
        ns,
        name,
        {
            "schema": f.schema((field, None, None) for field in fields),
            "symlinks": f.symlink(naming.model_symlink(record.model)),
            "datasetVersion": f.dataset_version(record.version),
            "documentation": f.documentation(
                f"Model {record.model} version {record.version}: {record.algorithm} trained "
                f"on {', '.join(u.table for u in record.features)} for purpose "
                f"{record.purpose or 'undeclared'}."
            ),
            "columnLineage": f.column_lineage(fields),
            "pipelines_model": f.custom(
                f.PipelinesModelDatasetFacet,
                model=record.model,
                version=record.version,
                algorithm=record.algorithm,
                parameters={k: str(v) for k, v in sorted(record.parameters.items())},
                metrics={k: float(v) for k, v in sorted(record.metrics.items())},
                code_version=record.code_version,
                artifact_sha256=record.artifact_sha256,
                card=str(record.card) if record.card else None,
            ),
        },
    )


def training_lineage(settings: Settings, record: TrainingRecord) -> LineageParts:
    """Everything the training run's COMPLETE event carries."""
    run_facet = f.custom(
        f.PipelinesTrainingRunFacet,
        model=record.model,
        model_version=record.version,
        features=[
            f.TrainingFeatureInput(
                table=u.table,
                release_id=u.release_id,
                as_of=u.as_of,
                snapshot_sha256=u.sha256,
                columns=list(u.columns),
            )
            for u in record.features
        ],
        label_source=record.labels.description,
        label_tables=sorted({p.table for p in record.labels.partitions}),
        training_rows=record.training_rows,
        purpose=record.purpose,
    )
    return LineageParts(
        inputs=[*_feature_inputs(settings, record), *_label_inputs(settings, record)],
        outputs=[model_output(settings, record)],
        run_facets={"pipelines_training": run_facet},
        job_facets={"sourceCodeLocation": ev.source_location(SOURCE)},
    )
