"""What every task of ``commerce_daily`` does around its work.

:func:`task_scope` quiets the libraries' logging (GX's too, for tasks that validate), resolves
the settings and runs the block as the task's OpenLineage run (START before, COMPLETE or FAIL
after: :func:`pipelines.lineage.emit.task_run`). :func:`fail_without_retry` turns a decision
that retrying cannot change (a failed quality or feature gate) into Airflow's
``AirflowFailException``.

Heavy imports stay inside the functions: DAG files import task modules lazily, and this one
is imported by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from pipelines.schedule import IntervalBeforeStartError, check_interval_start
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.lineage.emit import TaskLineage

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def task_scope(
    task_id: str,
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    settings: Settings | None = None,
    *,
    validates: bool = False,
) -> Iterator[tuple[Settings, TaskLineage]]:
    """Yield the settings and the task's lineage handle; ``validates`` also quiets GX.

    An interval before the configured start date fails at once, without retry
    (:class:`~pipelines.schedule.IntervalBeforeStartError`).
    """
    from pipelines.console import task_logging
    from pipelines.lineage.emit import task_run

    task_logging()
    if validates:
        from pipelines.quality.gxsetup import configure_logging

        configure_logging()
    settings = settings or Settings()
    # Refuse an interval before the configured start by name, before anything runs.
    fail_without_retry(
        IntervalBeforeStartError,
        check_interval_start,
        data_interval_start,
        data_interval_end,
        settings,
    )
    with task_run(
        task_id,
        run_id=run_id,
        settings=settings,
        interval=(data_interval_start, data_interval_end),
    ) as lineage:
        yield settings, lineage


def fail_without_retry(
    errors: type[Exception] | tuple[type[Exception], ...],
    call: Callable[P, R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``call(*args, **kwargs)``; ``errors`` become ``AirflowFailException`` (no retry)."""
    try:
        return call(*args, **kwargs)
    except errors as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
