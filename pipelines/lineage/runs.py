"""Who is running: the Airflow task instance, and references to runs (no OpenLineage imports).

A :class:`RunRef` names one run: the DAG run, a task run (parent: the DAG run) or a step of a
task such as a dbt model (parent: the task run; root: the DAG run). Outside Airflow (the CLI,
tests) a task run has no parent. This module stays light (no OpenLineage, no Airflow
import) so a task can name its run before the OpenLineage client has loaded.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.lineage import naming


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class AirflowRun:
    """The Airflow identifiers of the task instance that is running."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    max_tries: int = 0
    downstream: tuple[str, ...] = ()

    @property
    def last_try(self) -> bool:
        return self.try_number > self.max_tries


def current_airflow_run() -> AirflowRun | None:
    """The running task instance, from ``airflow.sdk.get_current_context()``; None outside.

    A process Airflow runs a task in has imported ``airflow.sdk`` already; elsewhere (the CLI,
    tests, benchmarks) importing it just to find no context would take seconds.
    """
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
        ti = context["ti"]
        task = getattr(ti, "task", None)
        downstream = tuple(sorted(getattr(task, "downstream_task_ids", ()) or ()))
        return AirflowRun(
            dag_id=str(ti.dag_id),
            run_id=str(ti.run_id),
            task_id=str(ti.task_id),
            try_number=int(getattr(ti, "try_number", 1) or 1),
            max_tries=int(getattr(ti, "max_tries", 0) or 0),
            downstream=downstream,
        )
    except Exception:
        return None


@dataclass(frozen=True)
class RunRef:
    job: str
    run_id: str
    namespace: str
    parent: RunRef | None = None

    @property
    def root(self) -> RunRef:
        return self.parent.root if self.parent is not None else self


def dag_run(dag_id: str, airflow_run_id: str) -> RunRef:
    return RunRef(
        naming.dag_job(dag_id), naming.dag_run_id(dag_id, airflow_run_id), naming.job_namespace()
    )


def task_run_ref(
    task_id: str,
    airflow: AirflowRun | None,
    *,
    run_id: str | None = None,
    job_prefix: str | None = None,
) -> RunRef:
    """The run of ``task_id``: under its DAG run in Airflow, else a parent-less run.

    Outside Airflow, a given ``run_id`` makes the run id deterministic; without one, every
    call is a new run. ``job_prefix`` replaces the daily DAG's id in the job name there.
    """
    namespace = naming.job_namespace()
    if airflow is not None:
        return RunRef(
            naming.task_job(task_id, airflow.dag_id),
            naming.task_run_id(airflow.dag_id, task_id, airflow.run_id, airflow.try_number),
            namespace,
            dag_run(airflow.dag_id, airflow.run_id),
        )
    prefix = job_prefix or naming.DAG_ID
    if run_id:
        return RunRef(
            naming.task_job(task_id, prefix),
            naming.task_run_id(prefix, task_id, run_id, 1),
            namespace,
        )
    return RunRef(naming.task_job(task_id, prefix), str(uuid.uuid4()), namespace)


def step_run_ref(parent: RunRef, step: str) -> RunRef:
    """A step inside a task run (a dbt model, the lake views): ``<task job>.<step>``."""
    return RunRef(
        f"{parent.job}.{step}", naming.step_run_id(parent.run_id, step), parent.namespace, parent
    )
