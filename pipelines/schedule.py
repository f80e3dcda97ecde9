"""When the pipeline runs: the daily DAG's start date, schedule and catch-up, from settings.

``commerce_daily`` takes them from :class:`~pipelines.settings.Settings` (``dag_start_date``,
``dag_schedule``, ``dag_catchup``; ``PIPELINES_DAG_*`` or the TOML settings file), so a shop
whose history begins in 2010 changes a setting, not the DAG file.

A data interval that starts before the start date is an error with a name
(:class:`IntervalBeforeStartError`), never a run that silently does nothing: the DAG's first
task (``check_interval``), every task's scope and ``pipelines ingest`` check it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.settings import Settings


class IntervalBeforeStartError(ValueError):
    """A data interval starts before the configured start date."""


def start_datetime(settings: Settings) -> datetime:
    """The configured start date as midnight UTC."""
    day = settings.dag_start_date
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def check_interval_start(start: datetime, end: datetime, settings: Settings) -> None:
    """Raise :class:`IntervalBeforeStartError` if ``[start, end)`` begins before the start date."""
    first = start_datetime(settings)
    moment = start if start.tzinfo else start.replace(tzinfo=UTC)
    if moment < first:
        raise IntervalBeforeStartError(
            f"the data interval [{start.isoformat()}, {end.isoformat()}) starts before the "
            f"configured start date {first.date().isoformat()} (setting dag_start_date, "
            f"PIPELINES_DAG_START_DATE): set it to {moment.date().isoformat()} or earlier to "
            "run this interval; nothing was run"
        )
