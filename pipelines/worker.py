"""The Celery workers' configuration: Airflow's default, and the modules the DAGs' tasks
import, imported once when a worker starts.

A Celery worker's pool processes run each task in a process forked for it (Airflow's
supervisor), which imports what the task body imports: Great Expectations for a quality
task (seconds of CPU), DuckDB, pandas, the pipeline's modules. Imported once in the
worker's main process (Celery's ``imports`` option, read before the pool starts), every
task's process inherits them instead of importing them again; Airflow preloads its own
operator modules the same way. The deployment points ``[celery] celery_config_options`` at
:data:`CELERY_CONFIG` (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``, :data:`pipelines.deploy.CELERY_CONFIG`).

Nothing here runs on import but the names: only a worker imports :data:`PRELOAD`. As with
any module the worker holds, a changed ``pipelines`` package takes effect when the workers
restart (the compose image holds the code; a new image restarts them anyway).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

PRELOAD = (
    # the modules the DAGs' task bodies import (dags/*.py; checked by tests/unit/test_worker.py) ...
    "pipelines.tasks",
    "pipelines.quality.tasks",
    "pipelines.features.tasks",
    "pipelines.privacy.tasks",
    "pipelines.models.tasks",
    "pipelines.assets",
    # ... and what those functions import when they run: Great Expectations (quality.engine,
    # seconds of CPU), the lake and its catalog, the warehouse's runner (not dbt: dbt runs in a
    # child process of its own), lineage
    "pipelines.ingest.lineage",
    "pipelines.quality.lineage",
    "pipelines.quality.runner",
    "pipelines.quality.engine",
    "pipelines.quality.features",
    "pipelines.quality.docs",
    "pipelines.quality.summary",
    "pipelines.features.lineage",
    "pipelines.features.release",
    "pipelines.features.snapshots",
    "pipelines.features.stored",
    "pipelines.warehouse.build",
    "pipelines.warehouse.dbt",
    "pipelines.warehouse.dbt_lineage",
    "pipelines.warehouse.lake_views_lineage",
    "pipelines.warehouse.stored",
    "pipelines.privacy.anonymity_audit",
    "pipelines.privacy.lineage",
    "pipelines.privacy.representativeness",
    "pipelines.privacy.retention",
    "pipelines.models.repeat_purchase",
    # ... and the libraries those modules import only when a task needs them: the OpenLineage
    # provider's API (asked whether it emits a task's events; 0.6 CPU s), OpenDP (privacy
    # releases)
    "airflow.providers.openlineage.api",
    "airflow.providers.openlineage.utils.utils",
    "opendp.prelude",
)
"""Modules each worker imports at start, so its tasks' processes inherit them."""


@worker_init.connect
def warm(**_: Any) -> None:
    """Before the pool starts (Celery's ``worker_init``, after :data:`PRELOAD`): parse
    botocore's S3 files once (:func:`pipelines.lake.s3client.warm`); each task process made an
    S3 client of its own, ~0.15 CPU s each."""
    from pipelines.lake import s3client

    s3client.warm()


CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), *PRELOAD),
}
"""Airflow's default Celery configuration, with :data:`PRELOAD` imported by each worker."""
