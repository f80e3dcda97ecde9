"""Failures that name the tables they concern, so whoever is told can find their owners.

A stage raises a :class:`TableFailure` (the quality gate's ``QualityGateFailed``, the feature
gate's ``FeatureGateFailed``) with the tables at fault; the owner notifier
(:mod:`pipelines.policy.notify`) reads them with :func:`failed_tables` from the exception
Airflow hands its failure callback, through any wrapping (``AirflowFailException ... from``),
without importing the stage that decided. Table names only: never a data value.
"""

from __future__ import annotations

from collections.abc import Iterable


class TableFailure(RuntimeError):
    """A failure the owners of ``tables`` answer for (table names, in order, no duplicates)."""

    def __init__(self, message: str, tables: Iterable[str] = ()):
        super().__init__(message)
        self.tables: tuple[str, ...] = tuple(dict.fromkeys(tables))


def failed_tables(exc: BaseException | None) -> list[str]:
    """The tables of the first :class:`TableFailure` in ``exc``'s chain (cause, context)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, TableFailure):
            return list(exc.tables)
        exc = exc.__cause__ or exc.__context__
    return []
