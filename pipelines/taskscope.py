"""What every task of ``commerce_daily`` does around its work.

:func:`task_scope` quiets the libraries' logging (GX's too, for tasks that validate), resolves
the settings and runs the block as the task's OpenLineage run (START before, COMPLETE or FAIL
after: :func:`pipelines.lineage.emit.task_run`), inside the tasks' redaction boundary
(:func:`redaction_boundary`, which a task entry point without a lineage run, such as the
training DAG's, uses alone): log records pass :class:`pipelines.redact.RedactingFilter`, and
an exception leaving the block has its text (and that of every exception chained to it) made
safe first (:func:`pipelines.redact.redact_exception`), so neither the FAIL event nor
Airflow's task log can quote a record. :func:`fail_without_retry` turns a decision
that retrying cannot change (a failed quality or feature gate) into Airflow's
``AirflowFailException``.

Heavy imports stay inside the functions: DAG files import task modules lazily, and this one
is imported by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

from pipelines.schedule import IntervalBeforeStartError, check_interval_start
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.lineage.emit import TaskLineage

P = ParamSpec("P")
R = TypeVar("R")


def task_settings(settings: Settings | None = None) -> Settings:
    """The settings an Airflow task runs with: those passed (tests, a caller that has them),
    else resolved here, once, from the worker's environment. Library code is passed them."""
    return settings if settings is not None else Settings()


def refuse_before_start(start: datetime, end: datetime, settings: Settings) -> None:
    """An interval that starts before the configured start date fails its task without a
    retry (``AirflowFailException`` naming :class:`IntervalBeforeStartError`)."""
    fail_without_retry(IntervalBeforeStartError, check_interval_start, start, end, settings)


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
    settings = task_settings(settings)
    # Refuse an interval before the configured start by name, before anything runs.
    refuse_before_start(data_interval_start, data_interval_end, settings)
    with (
        task_run(
            task_id,
            run_id=run_id,
            settings=settings,
            interval=(data_interval_start, data_interval_end),
        ) as lineage,
        redaction_boundary(),
    ):
        yield settings, lineage


@contextmanager
def redaction_boundary() -> Iterator[None]:
    """What may leave an Airflow task: log records pass
    :class:`pipelines.redact.RedactingFilter` (:func:`pipelines.console.task_logging`), and an
    exception leaving the block has its text, and that of every exception chained to it, made
    safe (:func:`pipelines.redact.redact_exception`): neither Airflow's task log nor the
    OpenLineage provider's FAIL event (built from the raised exception) can quote a record.

    :func:`task_scope` runs its block in it; a task entry point that does not use
    :func:`task_scope` wraps its body in it. Nested boundaries are harmless (a redacted
    exception is marked safe and passes unchanged).
    """
    from pipelines.console import task_logging
    from pipelines.redact import redact_exception

    task_logging()
    stand_in: BaseException | None = None
    try:
        yield
    except Exception as exc:
        raised = redact_exception(exc)
        if raised is exc:
            raise
        stand_in = raised
    if stand_in is not None:
        _raise_detached(stand_in)


class _Detached(Exception):
    """What is being handled while the boundary raises a stand-in (not the clear original)."""


def _raise_detached(stand_in: BaseException) -> NoReturn:
    """Raise ``stand_in`` without the clear original as its ``__context__``.

    A context manager's exit runs while the exception of the block is being handled, so any
    raise there, even outside an ``except`` block, chains it as ``__context__`` (which
    ``traceback`` prints). Raised while an empty :class:`_Detached` is handled instead, the
    stand-in keeps its redacted chain as ``__cause__``.
    """
    chained = stand_in.__cause__ or (
        None if stand_in.__suppress_context__ else stand_in.__context__
    )
    try:
        raise _Detached
    except _Detached as detached:
        detached.__context__ = None  # it was raised while the original was handled
        raise stand_in from chained


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

        from pipelines.redact import mark_safe, redact_exception, vouch

        redact_exception(vouch(exc))  # a decision the caller raised: its text is ours
        raise mark_safe(AirflowFailException(str(exc))) from exc
