"""The row checks: the one registry of the checks ingestion quarantines a record for.

Each check names the contract field that declares it, builds its SQL (a condition true when a
record fails it, and the reason text as a SQL expression) and says in words what a passing
value is. Ingestion's SELECT (:func:`pipelines.ingest.transform.row_checks`), the gate's
quarantine evidence (:func:`pipelines.quality.suites.quarantine_evidence`) and the ingestion
lineage (its FILTER edges) all read :data:`COLUMN_CHECKS` and :data:`TABLE_CHECKS`; a new
check is one entry here (and its contract field in :mod:`pipelines.contracts`).

The SQL reads a record's raw text as ``r."<column>"`` and its typed value as ``r.t_<column>``.
A reason never shows the value (an e-mail typed into a status column is personal data too):
it names the column, and the record is in the quarantine, encrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pipelines.sql import q, sql_str

if TYPE_CHECKING:
    from pipelines.contracts import Column, Contract

SEE_RECORD = " (see the encrypted record)"


@dataclass(frozen=True)
class Failure:
    """One way a record fails a check: ``condition`` (SQL, true on failure) and ``message``
    (a SQL expression of the reason text)."""

    condition: str
    message: str


@dataclass(frozen=True)
class ColumnSql:
    """What a column check's SQL is built from."""

    col: Column
    contract: Contract
    type_message: str
    """The SQL of the reason for a value that does not parse (ingestion knows the
    timestamp rules: :func:`pipelines.ingest.timestamps.timestamp_error`)."""

    @property
    def raw(self) -> str:
        return f"r.{q(self.col.name)}"

    @property
    def typed(self) -> str:
        return f"r.t_{self.col.name}"

    @property
    def shown(self) -> str:
        """How the bad value appears in a reason: by its column's name, never itself."""
        return sql_str(f"{self.col.name}: the value")


@dataclass(frozen=True)
class ColumnCheck:
    """A check of one column's value, declared by a field of the contract's column."""

    name: str
    field: str
    applies: Callable[[Column], bool]
    sql: Callable[[ColumnSql], list[Failure]]
    passing: Callable[[Column], str]
    """What a value that passes is, in words (the gate's evidence check describes it so)."""


@dataclass(frozen=True)
class TableCheck:
    """A check declared at the table level; it still concerns one column (:attr:`column`)."""

    name: str
    field: str
    column: Callable[[Contract], str | None]
    """The column it checks, or None when the contract does not ask for it."""
    sql: Callable[[Contract, datetime, datetime], list[Failure]]
    """Its failures, given the start and end of the data interval the records are ingested
    for."""
    passing: Callable[[Contract], str]


def _literal(col: Column, value: object) -> str:
    if col.type in ("date", "timestamp", "string"):
        return f"CAST({sql_str(str(value))} AS {col.duckdb_type})"
    return str(value)


_CALENDAR = {"date": ("DATE '0001-01-01'", "DATE '9999-12-31'"),
             "timestamp": ("TIMESTAMP '0001-01-01'", "TIMESTAMP '9999-12-31 23:59:59.999999'")}  # fmt: skip
"""Years 1 to 9999: DuckDB also reads year 0 (1 BC) and years past 9999, which nothing
downstream (Parquet readers, dbt, pandas) takes for the same day."""


def _type_error(s: ColumnSql) -> list[Failure]:
    failures = [Failure(f"{s.raw} IS NOT NULL AND {s.typed} IS NULL", s.type_message)]
    if s.col.type == "double":  # 'NaN', 'inf', and '1e400' (read as infinity)
        failures.append(
            Failure(
                f"NOT isfinite({s.typed})",
                f"{s.shown} || ' is not a finite number (NaN, infinity, or beyond the "
                f"range of a double){SEE_RECORD}'",
            )
        )
    if s.col.type in _CALENDAR:
        low, high = _CALENDAR[s.col.type]
        failures.append(
            Failure(
                f"{s.typed} NOT BETWEEN {low} AND {high}",
                f"{s.shown} || ' is outside the years 1 to 9999{SEE_RECORD}'",
            )
        )
    return failures


def _required(s: ColumnSql) -> list[Failure]:
    return [Failure(f"{s.raw} IS NULL", sql_str(f"{s.col.name}: required value is missing"))]


def _range(s: ColumnSql) -> list[Failure]:
    col, out = s.col, []
    for bound, op, words in (("min", "<", "below the minimum"), ("max", ">", "above the maximum")):
        value = getattr(col, bound)
        if value is not None:
            message = f"{s.shown} || ' is {words} {value}{SEE_RECORD}'"
            out.append(Failure(f"{s.typed} {op} {_literal(col, value)}", message))
    return out


def _allowed(s: ColumnSql) -> list[Failure]:
    # Not "NOT IN (...)": DuckDB plans a long IN list as a join, and an INSERT through a join
    # no longer keeps the stream's order (rowids give the rows' file positions).
    assert s.col.allowed_values
    allowed = ", ".join(sql_str(v) for v in s.col.allowed_values)
    condition = f"NOT list_contains(CAST([{allowed}] AS {s.col.duckdb_type}[]), {s.typed})"
    return [Failure(condition, f"{s.shown} || ' is not an allowed value{SEE_RECORD}'")]


def _pattern(s: ColumnSql) -> list[Failure]:
    pattern = s.col.pattern
    assert pattern is not None
    message = f"{s.shown} || ' does not match {pattern.replace(chr(39), chr(39) * 2)}{SEE_RECORD}'"
    return [Failure(f"NOT regexp_matches({s.typed}, {sql_str(pattern)})", message)]


COLUMN_CHECKS: list[ColumnCheck] = [
    ColumnCheck(
        "type_error",
        "type",
        lambda c: c.type != "string",
        _type_error,
        lambda c: f"{c.name} is a valid {c.type}",
    ),
    ColumnCheck(
        "required_missing",
        "required",
        lambda c: c.required,
        _required,
        lambda c: f"{c.name} is present",
    ),
    ColumnCheck(
        "out_of_range",
        "min/max",
        lambda c: c.min is not None or c.max is not None,
        _range,
        lambda c: f"{c.name} is within its range",
    ),
    ColumnCheck(
        "not_allowed",
        "allowed_values",
        lambda c: bool(c.allowed_values),
        _allowed,
        lambda c: f"{c.name} is an allowed value",
    ),
    ColumnCheck(
        "pattern_mismatch",
        "pattern",
        lambda c: bool(c.pattern),
        _pattern,
        lambda c: f"{c.name} matches its pattern",
    ),
]
"""Column checks, in the order a record's reasons list them."""


def _late_column(contract: Contract) -> str | None:
    event = contract.event_time
    return event.column if event and event.on_late == "quarantine" else None


def _late_arrival(contract: Contract, start: datetime, end: datetime) -> list[Failure]:
    event = contract.event_time
    assert event is not None
    hours = event.allowed_lateness_hours
    cutoff = (start - timedelta(hours=hours)).replace(tzinfo=None)
    col = contract.column(event.column)
    return [
        Failure(
            f"r.t_{col.name} < TIMESTAMP '{cutoff.isoformat(sep=' ')}'",
            f"'{col.name}: the event time is more than {hours}h before the interval start "
            f"{start.isoformat()}{SEE_RECORD}'",
        )
    ]


def _late_passing(contract: Contract) -> str:
    event = contract.event_time
    assert event is not None
    return f"{event.column} is at most {event.allowed_lateness_hours}h before the interval"


def _ahead_column(contract: Contract) -> str | None:
    event = contract.event_time
    if event is None or event.on_late != "quarantine" or event.allowed_ahead_hours is None:
        return None
    return event.column


def _ahead_of_interval(contract: Contract, start: datetime, end: datetime) -> list[Failure]:
    event = contract.event_time
    assert event is not None and event.allowed_ahead_hours is not None
    hours = event.allowed_ahead_hours
    cutoff = (end + timedelta(hours=hours)).replace(tzinfo=None)
    col = contract.column(event.column)
    return [
        Failure(
            f"r.t_{col.name} >= TIMESTAMP '{cutoff.isoformat(sep=' ')}'",
            f"'{col.name}: the event time is {hours}h or more after the interval end "
            f"{end.isoformat()}: a record of a later interval (or a wrong date){SEE_RECORD}'",
        )
    ]


def _ahead_passing(contract: Contract) -> str:
    event = contract.event_time
    assert event is not None
    return f"{event.column} is less than {event.allowed_ahead_hours}h after the interval"


TABLE_CHECKS: list[TableCheck] = [
    TableCheck(
        "late_arrival",
        "event_time.on_late: quarantine",
        _late_column,
        _late_arrival,
        _late_passing,
    ),
    TableCheck(
        "ahead_of_interval",
        "event_time.allowed_ahead_hours",
        _ahead_column,
        _ahead_of_interval,
        _ahead_passing,
    ),
]
"""Table-level checks, after the column checks."""


def column_checks(col: Column) -> list[ColumnCheck]:
    """The column checks the contract asks for on ``col``."""
    return [check for check in COLUMN_CHECKS if check.applies(col)]


def table_checks(contract: Contract) -> list[tuple[TableCheck, str]]:
    """The table checks the contract asks for, each with the column it checks."""
    out = []
    for check in TABLE_CHECKS:
        column = check.column(contract)
        if column is not None:
            out.append((check, column))
    return out


def names_by_column(contract: Contract) -> dict[str, list[str]]:
    """Column -> the row checks that can quarantine a record because of it."""
    names: dict[str, list[str]] = {}
    for col in contract.columns:
        for check in column_checks(col):
            names.setdefault(col.name, []).append(check.name)
    for table_check, column in table_checks(contract):
        names.setdefault(column, []).append(table_check.name)
    return names
