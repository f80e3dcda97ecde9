"""The events of one Airflow DAG run, as the OpenLineage provider and the project emit them.

Shared by the DAG integration tests: every task run appears once per event type, under the
DAG run, with the provider as producer of its task events; the DAG run has one START and at
most one COMPLETE; every event validates (the provider's own facets too)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipelines.lineage import naming
from tests.unit.lineage.ol_schema import validate_events

PROVIDER = "https://github.com/apache/airflow/tree/providers-openlineage/"
"""How the provider's ``producer`` starts (its version follows)."""


def dag_run_events(events: list[dict[str, Any]], dag_id: str) -> list[dict[str, Any]]:
    """The DAG run's events and its tasks' (not their steps'): exactly one DAG run of ``dag_id``."""
    runs = {e["run"]["runId"] for e in events if e["job"]["name"] == dag_id}
    assert len(runs) == 1, f"{dag_id}: {len(runs)} DAG runs in the events"
    (run,) = runs
    return [
        e
        for e in events
        if e["run"]["runId"] == run
        or (e["run"]["facets"].get("parent") or {}).get("run", {}).get("runId") == run
    ]


def assert_one_dag_run(
    events: list[dict[str, Any]], dag_id: str, tasks: set[str], *, completed: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """The checks of the module docstring; returns the run's events by job name."""
    mine = dag_run_events(events, dag_id)
    validate_events(mine)
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in mine:
        by_job.setdefault(event["job"]["name"], []).append(event)
    dag_types = Counter(e["eventType"] for e in by_job.pop(dag_id))
    assert dag_types == Counter(["START", "COMPLETE"] if completed else ["START"]), dag_types
    assert set(by_job) == {naming.task_job(t, dag_id) for t in tasks}, sorted(by_job)
    for job, task_events in by_job.items():
        assert sorted(e["eventType"] for e in task_events) == ["COMPLETE", "START"], job
        assert len({e["run"]["runId"] for e in task_events}) == 1, job
        assert all(e["producer"].startswith(PROVIDER) for e in task_events), job
        assert all(e["job"]["namespace"] == naming.job_namespace() for e in task_events), job
    return by_job


def complete(by_job: dict[str, list[dict[str, Any]]], job: str) -> dict[str, Any]:
    return next(e for e in by_job[job] if e["eventType"] == "COMPLETE")
