"""Generalisation of quasi-identifiers, as DuckDB SQL (ingestion) and Python (tests, checks).

* ``zip_prefix_3``: a 5-digit zip prefix (text) keeps its first 3 digits: ``01310`` ->
  ``013xx``. Anything that is not exactly 5 ASCII digits, and NULL, becomes NULL.
* ``age_band``: a birth date becomes an age band as of a reference date (the data interval
  end, so re-runs are reproducible): ``<18``, ``18-24``, ``25-34``, ``35-44``, ``45-54``,
  ``55-64``, ``65+``. Age is in whole years: a person born on 29 February turns a year older
  on 1 March in non-leap years. A birth date after the reference date gives NULL.

The SQL and Python versions are tested to agree value for value.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pipelines.contracts import Generalization

AGE_BANDS: tuple[tuple[int, str], ...] = (
    (18, "<18"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)
OLDEST_BAND = "65+"
_ZIP5 = re.compile(r"[0-9]{5}")


def zip_prefix_3(value: str | None) -> str | None:
    if value is None or not _ZIP5.fullmatch(value):
        return None
    return value[:3] + "xx"


def age_in_years(birth: date, reference: date) -> int:
    before_birthday = (reference.month, reference.day) < (birth.month, birth.day)
    return reference.year - birth.year - int(before_birthday)


def age_band(birth: date | None, reference: date) -> str | None:
    if birth is None:
        return None
    birth, reference = _as_date(birth), _as_date(reference)
    if birth > reference:
        return None
    age = age_in_years(birth, reference)
    for upper, label in AGE_BANDS:
        if age < upper:
            return label
    return OLDEST_BAND


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def sql_zip_prefix_3(column_sql: str) -> str:
    value = f"CAST(({column_sql}) AS VARCHAR)"
    return f"(CASE WHEN regexp_full_match({value}, '[0-9]{{5}}') THEN left({value}, 3) || 'xx' END)"


def sql_age_band(column_sql: str, reference_date_sql: str) -> str:
    """``reference_date_sql`` is any DATE/TIMESTAMP expression, e.g. a ``$param``."""
    birth = f"CAST(({column_sql}) AS DATE)"
    ref = f"CAST(({reference_date_sql}) AS DATE)"
    age = (
        f"(year({ref}) - year({birth}) - CASE WHEN month({ref}) < month({birth}) "
        f"OR (month({ref}) = month({birth}) AND day({ref}) < day({birth})) THEN 1 ELSE 0 END)"
    )
    bands = " ".join(f"WHEN {age} < {upper} THEN '{label}'" for upper, label in AGE_BANDS)
    return (
        f"(CASE WHEN {birth} IS NULL OR {birth} > {ref} THEN NULL {bands} ELSE '{OLDEST_BAND}' END)"
    )


def sql_generalize(
    method: Generalization | str, column_sql: str, reference_date_sql: str | None = None
) -> str:
    """The DuckDB expression generalising ``column_sql`` with ``method``."""
    method = Generalization(method)
    if method is Generalization.ZIP_PREFIX_3:
        return sql_zip_prefix_3(column_sql)
    if reference_date_sql is None:
        raise ValueError("age_band needs a reference date expression (the data interval end)")
    return sql_age_band(column_sql, reference_date_sql)


def generalize(
    method: Generalization | str, value: object, reference_date: date | None = None
) -> str | None:
    """Python twin of :func:`sql_generalize`."""
    method = Generalization(method)
    if method is Generalization.ZIP_PREFIX_3:
        return zip_prefix_3(value if isinstance(value, str) or value is None else str(value))
    if reference_date is None:
        raise ValueError("age_band needs a reference date (the data interval end)")
    if value is not None and not isinstance(value, date):
        raise TypeError(f"age_band takes a date, not {type(value).__name__}")
    return age_band(value, reference_date)
