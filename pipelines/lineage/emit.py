"""Emitting events without ever failing the pipeline, and the task-run context manager.

``with task_run("ingest_orders", run_id=..., interval=(start, end)) as lineage:`` emits START
on entry; on exit COMPLETE with what ``lineage.complete_with(build)`` builds from the task's
result, or FAIL with an ``errorMessage`` facet (the exception as
:func:`pipelines.redact.describe` lets it out, plus whatever ``lineage.fail_with(build)``
adds) when the body raised; the exception always propagates unchanged. Inside Airflow the
task run's parent is the DAG run (``try_number`` from ``airflow.sdk.get_current_context()``);
outside it the run has no parent.

When the OpenLineage Airflow provider covers the task (:func:`pipelines.lineage.provider.covers`:
it is active and our extractor is registered), the block emits no task events: the provider
emits START and COMPLETE or FAIL, and the datasets and facets built here go into them
(:func:`pipelines.lineage.provider.hand_over`).

The DAG run itself: without the provider, the first task of a run to start emits its START, a
task without downstream tasks its COMPLETE, a task failing for good (last try, or a no-retry
failure) its FAIL; marker files under ``<data_dir>/lineage/dag_runs/`` (created with
``O_EXCL``) make each happen once per DAG run attempt, whichever worker gets there first. With
the provider, its listener emits them (the scheduler's START, COMPLETE and FAIL where the run's
state changes), except the START of a run made by ``airflow dags test``, which creates its run
already running and so never notifies a START: the first task emits that one, through the
provider's API, with a ``start`` marker.

A lineage failure (building an event, the transport, the disk) is logged as one warning line
and appended to ``<data_dir>/lineage/errors.jsonl``; it never raises.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.lineage import client, runs, transfer
from pipelines.lineage.lines import append_line
from pipelines.settings import Settings

if TYPE_CHECKING:
    from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent, RunState

log = logging.getLogger("pipelines.lineage")

NO_RETRY_ERRORS = frozenset(
    {"AirflowFailException", "AirflowSensorTimeout", "QualityGateFailed", "FeatureGateFailed"}
)
"""Exceptions after which Airflow does not retry: the DAG run fails with them (the DAG's
gate task turns ``QualityGateFailed`` into ``AirflowFailException``)."""

_USERINFO = re.compile(r"(://)[^/@\s]+@")
START_TIMEOUT = 60.0
"""Seconds COMPLETE/FAIL wait for the background START (a hung transport must not block)."""


@dataclass
class LineageParts:
    """What a builder returns for an event: datasets and extra facets."""

    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    run_facets: dict[str, Any] = field(default_factory=dict)
    job_facets: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[], LineageParts | None]


# Failures ------------------------------------------------------------------------------------


def _describe_error(exc: BaseException) -> str:
    from pipelines.redact import describe

    return _USERINFO.sub(r"\1***@", describe(exc))[:500]


def record_failure(
    settings: Settings, what: str, exc: BaseException, event: RunEvent | None = None
) -> None:
    """Log one warning line and append the failure to ``errors.jsonl``; never raises."""
    message = _describe_error(exc)
    job = event.job.name if event is not None else None
    state = event.eventType.value if event is not None and event.eventType else None
    log.warning("lineage: %s failed for %s: %s", what, job or "-", message)
    try:
        append_line(
            client.errors_path(settings),
            json.dumps(
                {
                    "time": runs.now(),
                    "what": what,
                    "job": job,
                    "eventType": state,
                    "runId": event.run.runId if event is not None else None,
                    "error": message,
                },
                sort_keys=True,
            ),
        )
    except Exception as write_error:  # the disk is gone too: the warning line must do
        log.warning("lineage: could not record the failure: %s", _describe_error(write_error))


def error_count(settings: Settings) -> int:
    """How many lineage failures ``errors.jsonl`` records."""
    path = client.errors_path(settings)
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def emit(event: RunEvent, settings: Settings) -> bool:
    """Send one event; True when sent, False when it failed (recorded, never raised) or the
    transfer rules kept it in-house (:mod:`pipelines.lineage.transfer`)."""
    if client.disabled():
        return False
    try:
        refused = transfer.refused(settings, event)
        if refused is not None:  # the backend may not receive it: kept in-house
            transfer.keep_in_house(settings, event, refused)
            return False
        client.get_client(settings).emit(event)
        return True
    except Exception as exc:
        record_failure(
            settings, f"emitting {event.eventType.value if event.eventType else ''}", exc, event
        )
        return False


def build_safely(settings: Settings, what: str, builder: Builder | None) -> LineageParts | None:
    """Run a builder; a failure is recorded and gives None (the event goes out without it)."""
    if builder is None:
        return None
    try:
        return builder()
    except Exception as exc:
        record_failure(settings, f"building {what}", exc)
        return None


# The DAG run ---------------------------------------------------------------------------------


def _marker(settings: Settings, dag_run: runs.RunRef, attempt: str, name: str) -> bool:
    """Create a marker once; True for the process that created it (in PostgreSQL when
    ``lineage_url`` is set: workers share no folder)."""
    suffix = f"-{attempt}" if attempt else ""
    if settings.lineage_url is not None:
        from pipelines.lineage.pgevents import claim_marker

        return claim_marker(settings.lineage_url, f"{dag_run.run_id}{suffix}.{name}")
    folder = client.lineage_dir(settings) / "dag_runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dag_run.run_id}{suffix}.{name}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _dag_attempt() -> str:
    """Distinguishes re-runs of one Airflow run id (``airflow dags test`` twice): its start time."""
    if "airflow.sdk" not in sys.modules:
        return ""
    try:
        from airflow.sdk import get_current_context

        started = get_current_context()["dag_run"].start_date
        return re.sub(r"[^0-9A-Za-z]", "", started.isoformat()) if started else ""
    except Exception:
        return ""


def _provider_covers(airflow: runs.AirflowRun) -> bool:
    try:
        from pipelines.lineage import provider
    except ImportError:  # the OpenLineage provider is not installed
        return False
    return provider.covers(airflow)


# The task run --------------------------------------------------------------------------------

_CURRENT: contextvars.ContextVar[TaskLineage | None] = contextvars.ContextVar(
    "pipelines_lineage_task", default=None
)


def current_task() -> TaskLineage | None:
    """The task run of the innermost ``task_run`` block, if any (dbt steps use it as parent)."""
    return _CURRENT.get()


class TaskLineage:
    """The handle a ``task_run`` block gets: its run, and where to put the result's lineage."""

    def __init__(
        self,
        run: runs.RunRef,
        settings: Settings,
        airflow: runs.AirflowRun | None,
        interval: tuple[datetime, datetime] | None,
        job_facets: Mapping[str, Any] | None,
    ):
        self.run = run
        self.settings = settings
        self.airflow = airflow
        self.interval = interval
        self.job_facets = dict(job_facets or {})
        self._complete: Builder | None = None
        self._fail: Builder | None = None
        self._starting: threading.Thread | None = None
        self.attempt = ""
        self.provider = False  # the OpenLineage provider emits this task's events
        self.emitted: list[RunEvent] = []

    def complete_with(self, builder: Builder) -> None:
        """Build the COMPLETE event's datasets and facets with ``builder`` (lazily, safely)."""
        self._complete = builder

    def fail_with(self, builder: Builder) -> None:
        """Add what ``builder`` returns to the FAIL event, if the block raises."""
        self._fail = builder

    def emit(self, event: RunEvent) -> bool:
        self.emitted.append(event)
        return emit(event, self.settings)

    # events --------------------------------------------------------------------------------

    def _run_facets(self) -> dict[str, Any]:
        from pipelines.lineage import events as ev

        facets: dict[str, Any] = {"pipelines_airflow": ev.airflow_facet(self.airflow)}
        if self.interval is not None:
            facets["nominalTime"] = ev.nominal_time(*self.interval)
        return facets

    def _event(self, state: RunState, parts: LineageParts | None, **extra: Any) -> RunEvent:
        from pipelines.lineage import events as ev

        parts = parts or LineageParts()
        return ev.run_event(
            state,
            self.run,
            inputs=parts.inputs,
            outputs=parts.outputs,
            run_facets={**self._run_facets(), **extra, **parts.run_facets},
            job_facets={
                "jobType": ev.job_type("TASK", "AIRFLOW" if self.airflow else "PIPELINES"),
                **self.job_facets,
                **parts.job_facets,
            },
        )

    def start(self) -> None:
        try:
            from openlineage.client.event_v2 import RunState

            self._dag_start()
            if not self.provider:
                self.emit(self._event(RunState.START, None))
        except Exception as exc:
            record_failure(self.settings, "START", exc)

    def start_in_background(self) -> None:
        """Emit START from a thread, so loading the OpenLineage client (about a second in a
        fresh process) overlaps the task's own work; COMPLETE/FAIL wait for it."""
        try:
            thread = threading.Thread(target=self.start, name="lineage-start", daemon=True)
            thread.start()
            self._starting = thread
        except Exception:  # no thread to be had: do it here
            self.start()

    def _wait_started(self) -> None:
        if self._starting is not None:
            self._starting.join(START_TIMEOUT)
            self._starting = None

    def complete(self) -> None:
        self._wait_started()
        try:
            from openlineage.client.event_v2 import RunState

            parts = build_safely(self.settings, f"COMPLETE of {self.run.job}", self._complete)
            if self._hand_over(parts, RunState.COMPLETE):
                return
            self.emit(self._event(RunState.COMPLETE, parts))
            if self.airflow is not None and not self.airflow.downstream:
                self._dag_end(RunState.COMPLETE, None)
        except Exception as exc:
            record_failure(self.settings, "COMPLETE", exc)

    def fail(self, error: BaseException) -> None:
        self._wait_started()
        try:
            from openlineage.client.event_v2 import RunState

            from pipelines.lineage import events as ev

            parts = build_safely(self.settings, f"FAIL of {self.run.job}", self._fail)
            error_facet = ev.error_facet(error)
            # the provider's FAIL says why, from the raised error
            if self._hand_over(parts, RunState.FAIL, errorMessage=error_facet):
                return
            self.emit(self._event(RunState.FAIL, parts, errorMessage=error_facet))
            final = type(error).__name__ in NO_RETRY_ERRORS or (
                self.airflow is not None and self.airflow.last_try
            )
            if self.airflow is not None and final:
                self._dag_end(RunState.FAIL, error)
        except Exception as exc:
            record_failure(self.settings, "FAIL", exc)

    def _hand_over(self, parts: LineageParts | None, state: RunState, **extra: Any) -> bool:
        """Give the provider this run's datasets and facets; False when it does not cover it.
        Our own ``state`` event (with ``extra`` run facets) is what the transfer rules judge
        against the provider's transport, and what stays in-house if they refuse it."""
        if not self.provider or self.airflow is None:
            return False
        from pipelines.lineage import events as ev
        from pipelines.lineage import provider

        parts = parts or LineageParts()
        parts.run_facets = {"pipelines_airflow": ev.airflow_facet(self.airflow), **parts.run_facets}
        event = self._event(state, parts, **extra)
        provider.hand_over(self.airflow, provider.allowed(self.settings, parts, event))
        return True

    def _dag(self) -> runs.RunRef | None:
        return self.run.parent

    def _dag_facets(self) -> dict[str, Any]:
        from pipelines.lineage import events as ev

        facets: dict[str, Any] = {"pipelines_airflow": ev.airflow_facet(self.airflow, task=False)}
        if self.interval is not None:
            facets["nominalTime"] = ev.nominal_time(*self.interval)
        return facets

    def _dag_start(self) -> None:
        from openlineage.client.event_v2 import RunState

        from pipelines.lineage import events as ev

        dag = self._dag()
        if dag is None or (self.provider and not self._test_run()):
            return  # the provider's listener emits it where the scheduler starts the run
        if not _marker(self.settings, dag, self.attempt, "start"):
            return
        event = ev.run_event(
            RunState.START,
            dag,
            run_facets=self._dag_facets(),
            job_facets={"jobType": ev.job_type("DAG", "AIRFLOW")},
        )
        if not self.provider:
            self.emit(event)
            return
        from pipelines.lineage import provider

        self.emitted.append(event)
        provider.emit(event)

    def _test_run(self) -> bool:
        return self.airflow is not None and self.airflow.test_run

    def _dag_end(self, state: RunState, error: BaseException | None) -> None:
        from pipelines.lineage import events as ev

        dag = self._dag()
        if dag is None or not _marker(self.settings, dag, self.attempt, "end"):
            return
        facets = self._dag_facets()
        if error is not None:
            from pipelines.redact import describe

            facets["errorMessage"] = ev.error_facet(
                f"task {self.run.job} failed: {describe(error)}"
            )
        self.emit(
            ev.run_event(
                state,
                dag,
                run_facets=facets,
                job_facets={"jobType": ev.job_type("DAG", "AIRFLOW")},
            )
        )


class _DisabledLineage(TaskLineage):
    def start(self) -> None:
        return None

    def start_in_background(self) -> None:
        return None

    def complete(self) -> None:
        return None

    def fail(self, error: BaseException) -> None:
        return None


@contextmanager
def task_run(
    task_id: str,
    *,
    run_id: str | None = None,
    settings: Settings,
    interval: tuple[datetime, datetime] | None = None,
    job_facets: Mapping[str, Any] | None = None,
    job_prefix: str | None = None,
) -> Iterator[TaskLineage]:
    """START before the block, COMPLETE or FAIL after it (see the module docstring).

    ``task_id`` is used outside Airflow; inside, the running task instance's id wins.
    ``run_id`` (Airflow's run id, passed to the task) makes an out-of-Airflow run id
    deterministic. ``job_prefix`` names the job outside Airflow (``<prefix>.<task_id>``;
    default the daily DAG's id): code that is not a task of ``commerce_daily`` sets its own.
    """
    airflow = None if client.disabled() else runs.current_airflow_run()
    task = airflow.task_id if airflow is not None else task_id
    run = runs.task_run_ref(task, airflow, run_id=run_id, job_prefix=job_prefix)
    cls = _DisabledLineage if client.disabled() else TaskLineage
    handle = cls(run, settings, airflow, interval, job_facets)
    handle.attempt = _dag_attempt() if airflow is not None else ""
    handle.provider = airflow is not None and _provider_covers(airflow)
    handle.start_in_background()
    token = _CURRENT.set(handle)
    try:
        yield handle
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            handle.fail(exc)
        raise
    else:
        handle.complete()
    finally:
        _CURRENT.reset(token)


def emit_events(events: list[RunEvent], settings: Settings) -> int:
    """Emit several events; returns how many were sent."""
    return sum(emit(e, settings) for e in events)
