"""Our datasets and facets on the OpenLineage Airflow provider's own task events.

Inside Airflow, ``apache-airflow-providers-openlineage`` emits every task's START and
COMPLETE (or FAIL). Its documented way to add lineage to an operator it has no extractor for
is a custom extractor, registered by configuration (``[openlineage] extractors``, also the
``AIRFLOW__OPENLINEAGE__EXTRACTORS`` variable; :func:`pipelines.demo.airflow_env` and the
compose stack set it): :class:`TaskExtractor` covers TaskFlow tasks (``@task``). A task run
(:func:`pipelines.lineage.emit.task_run`) then emits no task events of its own: it hands what
its builder made (inputs and outputs with column lineage and masking, quality assertions,
dataset versions, PII tags, our run and job facets) to :func:`hand_over`, and the provider's
listener, in the same process after the task (from a fork of it, or from a thread with
``[openlineage] execute_in_thread``, which ``pipelines demo``/``run`` set), asks the
extractor, which returns it as the ``OperatorLineage`` of the COMPLETE or FAIL event. A task
that handed nothing over gets the provider's own fallbacks (hook lineage, inlets and outlets).

When the provider is not active or the extractor is not registered, :func:`covers` is False
and task runs emit their own events, with the provider's run ids (:mod:`runs`).

The provider sends its events through its own transport, a destination like ours: before
the hand-over, :func:`allowed` applies the policy's transfer rules
(:mod:`pipelines.lineage.transfer`) to where the provider's transport goes. Refused, the
provider gets no datasets and none of our facets but the task's ``pipelines_airflow`` (its
event then carries what its START carries), and our full event is kept in-house.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

    from pipelines.lineage.emit import LineageParts
    from pipelines.lineage.runs import AirflowRun
    from pipelines.settings import Settings

EXTRACTOR = f"{__name__}.TaskExtractor"
"""The value of ``[openlineage] extractors`` that registers :class:`TaskExtractor`."""

OPERATORS = ["_PythonDecoratedOperator"]
"""The task types :class:`TaskExtractor` extracts: TaskFlow's ``@task`` operator."""

log = logging.getLogger("pipelines.lineage")

Key = tuple[str, str, str, int, int]
_HANDED: dict[Key, list[LineageParts]] = {}
_LOCK = threading.Lock()


def covers(airflow: AirflowRun | None) -> bool:
    """Whether the provider emits this task's events with what we hand over: inside Airflow,
    with the provider active and :class:`TaskExtractor` registered."""
    if airflow is None:
        return False
    try:
        from airflow.providers.openlineage import conf
        from airflow.providers.openlineage.api import is_openlineage_active

        if EXTRACTOR not in conf.custom_extractors() or not is_openlineage_active():
            return False
        return _policy_extracts(airflow)
    except Exception:  # no provider, or one that does not load: our own events then
        return False


def _policy_extracts(airflow: AirflowRun) -> bool:
    """The provider's emission policy lets it emit this task's events with extracted lineage
    (``[openlineage] emission_policy``, ``selective_enable``, ``disabled_for_operators``)."""
    from airflow.providers.openlineage.utils.emission_policy import resolve_task_emission_policy
    from airflow.sdk import get_current_context

    task = get_current_context()["ti"].task
    policy = resolve_task_emission_policy(task, airflow.dag_id, airflow.task_id)
    return bool(policy.emit and policy.extract_operator_metadata)


def _key(dag_id: str, run_id: str, task_id: str, map_index: Any, try_number: Any) -> Key:
    index = -1 if map_index is None else int(map_index)
    return (str(dag_id), str(run_id), str(task_id), index, int(try_number or 1))


def destinations() -> list[str]:
    """Where the provider's transport sends events outside this machine, from its
    ``[openlineage]`` options (:func:`pipelines.lineage.transfer.provider_backends`)."""
    from airflow.providers.openlineage import conf

    from pipelines.lineage import transfer

    return transfer.provider_backends(
        conf.config_conn_id(), conf.config_path(check_legacy_env_var=False), conf.transport()
    )


def allowed(settings: Settings, parts: LineageParts, event: RunEvent) -> LineageParts:
    """``parts`` if the transfer rules let ``event`` (our event made of them) reach the
    provider's transport; otherwise ``event`` is kept in-house (the local event log and a
    ``refused_transfer`` finding) and only the ``pipelines_airflow`` run facet is handed."""
    from pipelines.lineage import transfer

    why = transfer.refused(settings, event, destinations())
    if why is None:
        return parts
    transfer.keep_in_house(settings, event, why)
    kept = {k: v for k, v in parts.run_facets.items() if k == "pipelines_airflow"}
    return type(parts)(run_facets=kept)


def hand_over(airflow: AirflowRun, parts: LineageParts) -> None:
    """Keep ``parts`` for the provider's COMPLETE or FAIL event of this task instance.

    A process runs one task instance at a time (``airflow dags test`` one after the other),
    and the listener takes the parts in a forked child or a thread: an earlier task's parts are
    dropped here, so a long ``dags test`` process does not keep every task's lineage."""
    key = _key(
        airflow.dag_id, airflow.run_id, airflow.task_id, airflow.map_index, airflow.try_number
    )
    with _LOCK:
        kept = _HANDED.get(key, [])
        _HANDED.clear()
        _HANDED[key] = [*kept, parts]


def take(task_instance: Any) -> OperatorLineage:
    """What the task instance handed over, merged into one ``OperatorLineage`` (and forgotten)."""
    key = _key(
        task_instance.dag_id,
        task_instance.run_id,
        task_instance.task_id,
        getattr(task_instance, "map_index", -1),
        getattr(task_instance, "try_number", 1),
    )
    with _LOCK:
        handed = _HANDED.pop(key, [])
    lineage: OperatorLineage = OperatorLineage()
    for parts in handed:
        lineage.inputs.extend(parts.inputs)
        lineage.outputs.extend(parts.outputs)
        lineage.run_facets.update(parts.run_facets)
        lineage.job_facets.update(parts.job_facets)
    return lineage


def emit(event: RunEvent) -> None:
    """Send an event of ours through the provider's API, to where its own events go."""
    from airflow.providers.openlineage.api import emit as provider_emit

    provider_emit(event)


class TaskExtractor(BaseExtractor):
    """The provider's extractor for TaskFlow tasks: the lineage the task handed over."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return list(OPERATORS)

    def _execute_extraction(self) -> OperatorLineage | None:
        return OperatorLineage()  # START: the task has not run yet

    def extract_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        return take(task_instance)

    def extract_on_failure(self, task_instance: Any) -> OperatorLineage | None:
        return take(task_instance)
