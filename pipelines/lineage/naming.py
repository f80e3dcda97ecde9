"""OpenLineage names shared by the emitter and the lineage store (see ``notes/lineage_spec.md``).

Jobs live in one namespace (``commerce``; env ``OPENLINEAGE_NAMESPACE`` overrides it):
``commerce_daily`` (the DAG), ``commerce_daily.<task_id>`` (a task) and
``commerce_daily.<task_id>.<step>`` (a step inside a task: a dbt model, the lake views).

Run ids are deterministic UUIDs (uuid5), so a re-emitted event names the same run:
the DAG run from ``(dag_id, airflow run_id)``, a task run from
``(dag_id, task_id, airflow run_id, try_number)``, a step run from ``(parent run id, step)``.

Datasets:

==================  =============================  ==========================================
what                namespace                      name
==================  =============================  ==========================================
landing file        ``file``                       absolute path of the file
lake table          ``file``                       absolute path of ``<lake>/<table>``
warehouse relation  ``duckdb://<abs warehouse>``   ``<catalog>.<schema>.<relation>``
feature snapshots   ``file``                       absolute path of ``<data_dir>/features/<table>``
trained model       ``file``                       absolute path of ``<data_dir>/models/<model>``
==================  =============================  ==========================================

On an object store (``landing_url``, ``lake_url`` = ``s3://<bucket>/<prefix>``) a landing
file is namespace ``s3://<bucket>``, name ``<prefix>/<date>/<file>``, and a lake table
``s3://<bucket>``, ``<prefix>/<table>``.

Each dataset also has a short logical name (its ``symlinks`` facet): ``landing.<table>``,
``lake.<table>``, ``warehouse.<relation>`` (e.g. ``warehouse.orders`` for the view
``warehouse.lake.orders``, ``warehouse.customer_features``), ``features.<table>`` (the
Parquet snapshots ML teams read), ``model.<name>`` (a trained model; its versions are
``datasetVersion``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

DEFAULT_NAMESPACE = "commerce"
NAMESPACE_ENV = "OPENLINEAGE_NAMESPACE"
DAG_ID = "commerce_daily"
BUILD_TASK = "build_features"
LAKE_VIEWS_STEP = "lake_views"
"""The step of the build task that exposes lake partitions as ``warehouse.lake.*`` views."""

FILE_NAMESPACE = "file"
WAREHOUSE_SCHEME = "duckdb://"
SYMLINK_TYPE = "LOGICAL"
"""``type`` of the short-name identifier in every dataset's ``symlinks`` facet."""

PRODUCER = "https://commerce-pipelines.example/pipelines"
"""The ``producer`` URI of every event and custom facet."""

CUSTOM_FACET_PREFIX = "pipelines_"

_RUN_NAMESPACE = uuid.UUID("5b0f6f7e-3c1a-5e53-9a57-2f1c6c0e8a11")
"""uuid5 namespace of this project's run ids (any fixed UUID; never change it)."""


def job_namespace() -> str:
    return os.environ.get(NAMESPACE_ENV, "").strip() or DEFAULT_NAMESPACE


# Jobs ----------------------------------------------------------------------------------------


def dag_job(dag_id: str = DAG_ID) -> str:
    return dag_id


def task_job(task_id: str, dag_id: str = DAG_ID) -> str:
    """``commerce_daily.ingest_orders``."""
    return f"{dag_id}.{task_id}"


def step_job(step: str, task_id: str = BUILD_TASK, dag_id: str = DAG_ID) -> str:
    """``commerce_daily.build_features.customer_features`` (a dbt model or another step)."""
    return f"{dag_id}.{task_id}.{step}"


# Run ids -------------------------------------------------------------------------------------


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def dag_run_id(dag_id: str, airflow_run_id: str) -> str:
    return _uuid("dag", dag_id, airflow_run_id)


def task_run_id(dag_id: str, task_id: str, airflow_run_id: str, try_number: int = 1) -> str:
    return _uuid("task", dag_id, task_id, airflow_run_id, int(try_number))


def step_run_id(parent_run_id: str, step: str) -> str:
    return _uuid("step", parent_run_id, step)


# Datasets ------------------------------------------------------------------------------------


def absolute(path: Path | str) -> str:
    """An absolute, normalized path; symbolic links are kept as they are (not resolved)."""
    return os.path.abspath(os.fspath(path))


def landing_dataset(path: Path | str) -> tuple[str, str]:
    """A landing file's dataset: ``file`` and its absolute path, or on an object store
    (``s3://bucket/prefix/<date>/<file>``) namespace ``s3://bucket`` and name
    ``prefix/<date>/<file>``, as :func:`lake_dataset` names the lake."""
    text = str(path)
    if text.startswith("s3://"):
        bucket, _, key = text[len("s3://") :].partition("/")
        return f"s3://{bucket}", key.strip("/")
    return FILE_NAMESPACE, absolute(path)


def lake_dataset(lake_dir: Path | str, table: str) -> tuple[str, str]:
    """A lake table's dataset: ``file`` and its folder, or on an object store
    (``s3://bucket/prefix``) namespace ``s3://bucket`` and name ``prefix/table``."""
    text = str(lake_dir)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        return f"s3://{bucket}", "/".join(p for p in (prefix.strip("/"), table) if p)
    return FILE_NAMESPACE, absolute(Path(lake_dir) / table)


def warehouse_namespace(warehouse_path: Path) -> str:
    return WAREHOUSE_SCHEME + absolute(warehouse_path)


def warehouse_catalog(warehouse_path: Path) -> str:
    """DuckDB's catalog name of an attached file: its stem (``warehouse.duckdb`` -> ``warehouse``)."""
    return Path(warehouse_path).stem


def warehouse_dataset(warehouse_path: Path, schema: str, relation: str) -> tuple[str, str]:
    """``(duckdb:///abs/warehouse.duckdb, warehouse.<schema>.<relation>)``."""
    return (
        warehouse_namespace(warehouse_path),
        f"{warehouse_catalog(warehouse_path)}.{schema}.{relation}",
    )


def feature_dataset(features_dir: Path, table: str) -> tuple[str, str]:
    """The exported snapshots of a feature table (one ``as_of=<date>`` partition per build)."""
    return FILE_NAMESPACE, absolute(Path(features_dir) / table)


def model_dataset(models_dir: Path, model: str) -> tuple[str, str]:
    """A trained model (one ``version=<id>`` folder per training run)."""
    return FILE_NAMESPACE, absolute(Path(models_dir) / model)


def landing_symlink(table: str) -> str:
    return f"landing.{table}"


def lake_symlink(table: str) -> str:
    return f"lake.{table}"


def feature_symlink(table: str) -> str:
    return f"features.{table}"


def model_symlink(model: str) -> str:
    return f"model.{model}"


def warehouse_symlink(relation: str) -> str:
    """``warehouse.<relation>``: the relation's own name, without catalog or schema."""
    return f"warehouse.{relation.rsplit('.', 1)[-1]}"


# Custom facets -------------------------------------------------------------------------------


def custom_facet_schema_url(class_name: str, version: str = "1-0-0") -> str:
    """``_schemaURL`` of one of this project's facets (the JSON Schema is generated from it)."""
    return (
        f"https://commerce-pipelines.example/spec/facets/{version}/{class_name}.json"
        f"#/$defs/{class_name}"
    )
