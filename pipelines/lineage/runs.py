"""Who is running: the Airflow task instance, and references to runs (no OpenLineage imports).

A :class:`RunRef` names one run: the DAG run, a task run (parent: the DAG run) or a step of a
task such as a dbt model (parent: the task run; root: the DAG run). Outside Airflow (the CLI,
tests) a task run has no parent. This module stays light (no OpenLineage, no Airflow
import) so a task can name its run before the OpenLineage client has loaded.

Inside Airflow, the DAG run and task run ids are those of ``apache-airflow-providers-openlineage``
(its listener emits the run events of every task, carrying our datasets and facets:
:mod:`pipelines.lineage.provider`): the dbt steps under a task, and the task events we emit
ourselves where the provider is not active, describe the same runs, never a second, unlinked
run. The provider derives them from the
DAG run's logical date (else its ``run_after``), its clear number, the try and map index and
the ``[openlineage] namespace`` (set it to the job namespace, ``commerce``; ``airflow_env``
does). Without the provider, ids are this project's uuid5 of the Airflow run id.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.lineage import naming


def now() -> str:
    return datetime.now(UTC).isoformat()


TEST_RUN_USER = "dag_test"
"""The ``triggering_user_name`` of the runs ``airflow dags test`` makes (Airflow's ``Dag.test``)."""


@dataclass(frozen=True)
class AirflowRun:
    """The Airflow identifiers of the task instance that is running."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    max_tries: int = 0
    downstream: tuple[str, ...] = ()
    logical_date: datetime | None = None  # the DAG run's logical date, else its run_after
    clear_number: int = 0
    map_index: int = -1
    test_run: bool = False  # made by `airflow dags test` (Airflow's Dag.test() names this user)

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
        dag_run = context.get("dag_run")
        when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
        map_index = getattr(ti, "map_index", -1)
        return AirflowRun(
            dag_id=str(ti.dag_id),
            run_id=str(ti.run_id),
            task_id=str(ti.task_id),
            try_number=int(getattr(ti, "try_number", 1) or 1),
            max_tries=int(getattr(ti, "max_tries", 0) or 0),
            downstream=downstream,
            logical_date=when if isinstance(when, datetime) else None,
            clear_number=int(getattr(dag_run, "clear_number", 0) or 0),
            map_index=int(map_index if map_index is not None else -1),
            test_run=getattr(dag_run, "triggering_user_name", None) == TEST_RUN_USER,
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


def _provider() -> bool:
    """Whether ``apache-airflow-providers-openlineage`` is installed (it is imported by the
    Airflow process running the task already)."""
    return "airflow.providers.openlineage" in sys.modules or _importable()


def _importable() -> bool:
    from importlib.util import find_spec

    try:
        return find_spec("airflow.providers.openlineage") is not None
    except (ImportError, ValueError):
        return False


def provider_run_ids(airflow: AirflowRun) -> tuple[str, str] | None:
    """(DAG run id, task run id) as the OpenLineage provider names them; None without the
    provider or a date to derive them from."""
    if airflow.logical_date is None or not _provider():
        return None
    from airflow.providers.openlineage.utils.utils import (
        build_dag_run_ol_run_id,
        build_task_instance_ol_run_id,
    )

    dag = build_dag_run_ol_run_id(airflow.dag_id, airflow.logical_date, airflow.clear_number)
    task = build_task_instance_ol_run_id(
        airflow.dag_id,
        airflow.task_id,
        airflow.try_number,
        airflow.logical_date,
        airflow.map_index,
    )
    return dag, task


def dag_run(dag_id: str, airflow_run_id: str, provider_id: str | None = None) -> RunRef:
    return RunRef(
        naming.dag_job(dag_id),
        provider_id or naming.dag_run_id(dag_id, airflow_run_id),
        naming.job_namespace(),
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
        ids = provider_run_ids(airflow) if task_id == airflow.task_id else None
        return RunRef(
            naming.task_job(task_id, airflow.dag_id),
            ids[1]
            if ids
            else naming.task_run_id(airflow.dag_id, task_id, airflow.run_id, airflow.try_number),
            namespace,
            dag_run(airflow.dag_id, airflow.run_id, ids[0] if ids else None),
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
