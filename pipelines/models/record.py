"""Recording a training run: which feature releases and label source made which model version.

>>> from pipelines.features import load_features
>>> from pipelines.models import LabelSource, training_run
>>> fs = load_features("customer_features", purpose="repeat_purchase")
>>> with training_run("repeat_purchase") as run:
...     model = fit(...)                                   # the team's own code
...     record = run.record(
...         features=[run.used(fs, ["orders", "spend"])],
...         labels=LabelSource("repeat purchase within 60 days", partitions, columns),
...         algorithm="sklearn.linear_model.LogisticRegression",
...         parameters={"C": 1.0}, metrics={"roc_auc": 0.71}, training_rows=1200,
...     )

``training_run`` is one OpenLineage run (START on entry, COMPLETE with the inputs and the model
on exit, FAIL if the block raises; :mod:`pipelines.models.lineage` builds the datasets).
Inside Airflow the run is the task's, under the DAG run. The model version is derived from
what went in (feature snapshot hashes, label partition versions, parameters, code version):
the same inputs give the same version, a newer release a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.features.api import FeatureSet
    from pipelines.lake.partitions import Partition
    from pipelines.lineage.emit import TaskLineage


JOB_PREFIX = "models"
"""Outside Airflow a training run's job is ``models.train_<model>``."""


def models_dir(settings: Settings) -> Path:
    """``<data_dir>/models``: one folder per model, one ``version=<id>`` folder per version."""
    return settings.data_dir / "models"


def version_dir(settings: Settings, model: str, version: str) -> Path:
    return models_dir(settings) / model / f"version={version}"


@dataclass(frozen=True)
class FeatureInput:
    """One feature snapshot a model was trained on, and the columns it used."""

    table: str
    release_id: str
    as_of: str
    file: Path
    sha256: str
    columns: tuple[str, ...]
    purpose: str = ""

    @classmethod
    def of(cls, fs: FeatureSet, columns: Sequence[str]) -> FeatureInput:
        missing = [c for c in columns if c not in fs.frame.columns]
        if missing:
            raise KeyError(
                f"{fs.table} as of {fs.as_of} has no column(s) {missing}; "
                f"its columns: {', '.join(fs.frame.columns)}"
            )
        info = fs.release.features.get(fs.table) or {}
        sha = info.get("decided_sha256") or info.get("sha256")
        if not sha:
            from pipelines.hashing import file_sha256

            sha = file_sha256(fs.file)
        return cls(
            fs.table,
            fs.release.release_id,
            fs.as_of.isoformat(),
            fs.file,
            str(sha),
            tuple(columns),
            fs.purpose,
        )


@dataclass(frozen=True)
class LabelSource:
    """Where the labels come from: a description, the lake partitions read and the
    ``(lake table, column)`` pairs the label is derived from."""

    description: str
    partitions: tuple[Partition, ...]
    columns: tuple[tuple[str, str], ...]

    def versions(self) -> list[tuple[str, str, str]]:
        return sorted((p.table, p.name, p.manifest.dataset_version) for p in self.partitions)

    def entries(self) -> list[dict[str, Any]]:
        """The partitions as the record names them: table, partition, dataset version and
        the DuckLake catalog snapshot of that version (None without a catalog)."""
        ordered = sorted(
            self.partitions, key=lambda p: (p.table, p.name, p.manifest.dataset_version)
        )
        return [
            {"table": p.table, "partition": p.name, "dataset_version": p.manifest.dataset_version,
             "snapshot": p.snapshot}
            for p in ordered
        ]  # fmt: skip


@dataclass
class TrainingRecord:
    """What went into one model version and what came out (no data values)."""

    model: str
    version: str
    models_dir: Path
    features: list[FeatureInput]
    labels: LabelSource
    algorithm: str
    parameters: dict[str, Any]
    metrics: dict[str, float]
    training_rows: int
    code_version: str | None
    artifact: Path | None = None
    artifact_sha256: str | None = None
    card: Path | None = None
    run_id: str | None = None

    def field_name(self, table: str, column: str) -> str:
        """The model's name for a feature column: the column, or ``table:column`` when two
        inputs share the name."""
        tables = [u.table for u in self.features if column in u.columns]
        return column if len(tables) == 1 else f"{table}:{column}"

    @property
    def purpose(self) -> str:
        """The declared purpose(s) the features were loaded for (policy.yml approved them)."""
        return ", ".join(sorted({u.purpose for u in self.features if u.purpose}))

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "algorithm": self.algorithm,
            "parameters": {k: str(v) for k, v in sorted(self.parameters.items())},
            "metrics": {k: float(v) for k, v in sorted(self.metrics.items())},
            "training_rows": self.training_rows,
            "purpose": self.purpose,
            "code_version": self.code_version,
            "artifact": str(self.artifact) if self.artifact else None,
            "artifact_sha256": self.artifact_sha256,
            "lineage_run_id": self.run_id,
            "features": [
                {
                    "table": u.table,
                    "release_id": u.release_id,
                    "as_of": u.as_of,
                    "snapshot": str(u.file),
                    "snapshot_sha256": u.sha256,
                    "columns": list(u.columns),
                    "purpose": u.purpose,
                }
                for u in self.features
            ],
            "labels": {
                "description": self.labels.description,
                "columns": [f"lake.{t}.{c}" for t, c in self.labels.columns],
                "partitions": self.labels.entries(),
            },
        }


def code_version() -> str | None:
    """The checked-out commit of this repository, when it can be read."""
    from pipelines.lineage.events import git_version

    return git_version()


def model_version(
    features: Sequence[FeatureInput],
    labels: LabelSource,
    parameters: Mapping[str, Any],
    code: str | None,
) -> str:
    """``m-<12 hex>`` from the inputs' versions, the parameters and the code version."""
    payload = json.dumps(
        {
            "features": sorted((u.table, u.sha256, list(u.columns)) for u in features),
            "labels": [labels.description, labels.versions(), sorted(labels.columns)],
            "parameters": {k: str(v) for k, v in sorted(parameters.items())},
            "code": code,
        },
        sort_keys=True,
    )
    return "m-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


class TrainingRun:
    """The handle a :func:`training_run` block gets."""

    def __init__(self, model: str, settings: Settings, lineage: TaskLineage):
        self.model = model
        self.settings = settings
        self.lineage = lineage
        self.recorded: TrainingRecord | None = None

    @staticmethod
    def used(fs: FeatureSet, columns: Sequence[str]) -> FeatureInput:
        return FeatureInput.of(fs, columns)

    def version(
        self,
        features: Sequence[FeatureInput],
        labels: LabelSource,
        parameters: Mapping[str, Any],
    ) -> str:
        """The version the model will get (to name its folder before writing it)."""
        return model_version(features, labels, parameters, code_version())

    def record(
        self,
        *,
        features: Sequence[FeatureInput],
        labels: LabelSource,
        algorithm: str,
        parameters: Mapping[str, Any],
        metrics: Mapping[str, float],
        training_rows: int,
        artifact: Path | None = None,
        card: Path | None = None,
    ) -> TrainingRecord:
        """Record what the run consumed and made; its COMPLETE event carries it."""
        from pipelines.hashing import file_sha256
        from pipelines.models.lineage import training_lineage

        code = code_version()
        record = TrainingRecord(
            model=self.model,
            version=model_version(features, labels, parameters, code),
            models_dir=models_dir(self.settings),
            features=list(features),
            labels=labels,
            algorithm=algorithm,
            parameters=dict(parameters),
            metrics={k: float(v) for k, v in metrics.items()},
            training_rows=int(training_rows),
            code_version=code,
            artifact=artifact,
            artifact_sha256=file_sha256(artifact) if artifact and artifact.is_file() else None,
            card=card,
            run_id=self.lineage.run.run_id,
        )
        self.recorded = record
        self.lineage.complete_with(lambda: training_lineage(self.settings, record))
        return record


@contextmanager
def training_run(
    model: str, *, settings: Settings | None = None, run_id: str | None = None
) -> Iterator[TrainingRun]:
    """One training run as an OpenLineage run: job ``<dag>.<task>`` in Airflow, else
    ``models.train_<model>``."""
    from pipelines.features.api import user_settings
    from pipelines.lineage.emit import task_run

    settings = user_settings(settings)  # an ML user's entry, like load_features
    with task_run(
        f"train_{model}", run_id=run_id, settings=settings, job_prefix=JOB_PREFIX
    ) as lineage:
        yield TrainingRun(model, settings, lineage)
