"""SQL that turns raw text records into typed, protected, checked records.

For one contract this builds a single SELECT over a raw relation (all VARCHAR, as the readers
produce it) that yields, per record:

* every written column in its lake form: typed, or protected when the contract says so;
* ``_reasons``: the row-level checks it failed (type, required, range, allowed values,
  pattern, lateness), each a struct ``{check, column, reason}``; NULL if it failed none;
* ``_record``: for failed records only, a JSON image of the record for the quarantine, in
  which PII columns are protected exactly as in the lake (never clear text); the quarantine
  encrypts the other columns' values when it is written (:mod:`pipelines.lake.quarantine`).

Keyed protections (pseudonymization, encryption) and scrubbing are either SQL from the
:class:`ProtectionSql` or, with ``precomputed=True`` (what ingestion runs), read from columns
the raw relation already carries, named by :func:`protected_column`: ingestion computes them on
whole Arrow batches (:mod:`pipelines.ingest.stream`).

Clear-text PII exists only inside this streaming expression; nothing that holds it is
materialized.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from pipelines.contracts import Column, Contract, Protection, Source
from pipelines.ingest.readers import REASONS_TYPE
from pipelines.ingest.timestamps import timestamp_error, timestamp_expr
from pipelines.lake.interval import Interval
from pipelines.protection.encrypt import encryption_context
from pipelines.sql import q, sql_str

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_UTC_SOURCE = Source(file_stem="-")


class ProtectionSql(Protocol):
    """The SQL building blocks of PII protection (see :mod:`pipelines.protection`)."""

    def token(self, column_sql: str, param_prefix: str) -> tuple[str, dict[str, bytes]]: ...

    def encrypt(self, column_sql: str, context: str) -> str: ...

    def generalize(self, method: str, column_sql: str, reference_date_sql: str) -> str: ...

    def scrub(self, column_sql: str, region: str) -> str: ...


KEYED = (Protection.PSEUDONYMIZE, Protection.ENCRYPT)
"""Protections that need key material."""

PRECOMPUTED = (*KEYED, Protection.SCRUB)
"""Protections ingestion computes outside SQL, on whole Arrow batches: the keyed ones, and
scrubbing (its detectors are Python: :mod:`pipelines.protection.detect`)."""


def protected_column(col: Column) -> str:
    """The raw-relation column holding ``col``'s precomputed token, ciphertext or scrubbed
    text."""
    return f"_protected_{col.name}"


@dataclass
class StagedQuery:
    sql: str
    params: dict[str, object] = field(default_factory=dict)


def typed_expr(col: Column, raw: str, source: Source | None = None) -> str:
    """Strict parse of a raw text value into the contract type (NULL when it does not parse).

    Timestamps are converted to UTC as ``source`` declares (its time zone for naive values,
    and whether values with an offset are converted or refused; see
    :mod:`pipelines.ingest.timestamps`); without a ``source``, naive values are UTC and
    offsets are converted.

    Surrounding spaces are allowed (``trim``). Each value is first parsed as it is, and trimmed
    only if that fails: trimming copies the string, which costs as much as parsing it, and a
    value that parses untrimmed parses to the same result trimmed.

    DuckDB's own casts are lenient (``'1.5'`` casts to the integer 2, ``'1e3'`` and ``'1_000'``
    to 1000), so integers and decimals must match a pattern. A value whose cast prints back as
    the value itself (``'42'``, ``'19.90'``: the usual case) is already in canonical form and
    matches it; only other values pay for the regular expression.
    """
    kind = col.type
    if kind == "string":
        return raw
    trimmed = f"trim({raw})"
    if kind == "integer":
        pattern = "'^([+-]?[0-9]+)(\\.0+)?$'"
        return (
            f"CASE WHEN CAST(TRY_CAST({raw} AS BIGINT) AS VARCHAR) = {raw} "
            f"THEN TRY_CAST({raw} AS BIGINT) "
            f"ELSE coalesce(TRY_CAST(regexp_extract({raw}, {pattern}, 1) AS BIGINT), "
            f"TRY_CAST(regexp_extract({trimmed}, {pattern}, 1) AS BIGINT)) END"
        )
    match = _DECIMAL.match(kind)
    if match:
        scale = int(match.group(2))
        frac = f"(\\.[0-9]{{1,{scale}}}0*)?" if scale else "(\\.0+)?"
        pattern = f"'[+-]?[0-9]+{frac}'"
        cast = f"TRY_CAST({raw} AS {col.duckdb_type})"
        return (
            f"CASE WHEN CAST({cast} AS VARCHAR) = {raw} THEN {cast} "
            f"WHEN regexp_full_match({raw}, {pattern}) THEN {cast} "
            f"WHEN regexp_full_match({trimmed}, {pattern}) "
            f"THEN TRY_CAST({trimmed} AS {col.duckdb_type}) END"
        )
    if kind == "timestamp":
        return timestamp_expr(raw, source or _UTC_SOURCE)
    if kind == "date":
        return _date_expr(raw)
    return (
        f"coalesce(TRY_CAST({raw} AS {col.duckdb_type}), TRY_CAST({trimmed} AS {col.duckdb_type}))"
    )


_PLAIN_DATE = "'[\\s\\p{Z}]*[0-9]+-[0-9]{1,2}-[0-9]{1,2}([ T]00:00(:00(\\.0+)?)?)?[\\s\\p{Z}]*'"


def _date_expr(raw: str) -> str:
    """A date, or a date at midnight without an offset (``2018-01-01 00:00:00``, as exports
    often write dates). DuckDB's cast would also take ``2018-01-01 23:30-03:00`` and drop the
    time and offset, a value silently made wrong; such values do not parse (``type_error``)."""
    return (
        f"CASE WHEN regexp_full_match({raw}, {_PLAIN_DATE}) "
        f"THEN coalesce(TRY_CAST({raw} AS DATE), TRY_CAST(trim({raw}) AS DATE)) END"
    )


def _literal(col: Column, value: object) -> str:
    if col.type in ("date", "timestamp", "string"):
        return f"CAST({sql_str(str(value))} AS {col.duckdb_type})"
    return str(value)


def _shown(col: Column, raw: str) -> str:
    """How a bad value appears in a quarantine reason: never, whatever the column's class (an
    e-mail typed into a status column is personal data too). The reason names the column; the
    value is in the record, encrypted (:mod:`pipelines.lake.quarantine`)."""
    return sql_str(f"{col.name}: the value")


_SEE_RECORD = " (see the encrypted record)"


@dataclass(frozen=True)
class RowCheck:
    condition: str  # true when the record fails the check
    reason: str  # the ``{check, column, reason}`` struct when it fails, else NULL
    check: str = ""  # its name (``type_error``, ...), as the reason and the lineage name it
    column: str | None = None  # the contract column it checks


def _reason(check: str, col: Column | None, condition: str, message_sql: str) -> RowCheck:
    column = sql_str(col.name) if col else "NULL"
    return RowCheck(
        condition,
        f"CASE WHEN {condition} THEN {{'check': {sql_str(check)}, 'column': {column}, "
        f"'reason': {message_sql}}} END",
        check,
        col.name if col else None,
    )


def row_checks(contract: Contract, interval: Interval) -> list[RowCheck]:
    """The row-level checks, over columns ``r.<col>`` (raw text) and ``r.t_<col>`` (typed)."""
    checks = []
    for col in contract.columns:
        raw, typed = f"r.{q(col.name)}", f"r.t_{col.name}"
        if col.type != "string":
            message = f"{_shown(col, raw)} || ' is not a valid {col.type}{_SEE_RECORD}'"
            if col.type == "timestamp":
                shown = timestamp_error(raw, _shown(col, raw), contract.source)
                message = f"({shown}) || '{_SEE_RECORD}'"
            checks.append(
                _reason("type_error", col, f"{raw} IS NOT NULL AND {typed} IS NULL", message)
            )
        if col.required:
            checks.append(
                _reason(
                    "required_missing",
                    col,
                    f"{raw} IS NULL",
                    "'required value is missing'",
                )
            )
        if col.min is not None:
            checks.append(
                _reason(
                    "out_of_range",
                    col,
                    f"{typed} < {_literal(col, col.min)}",
                    f"{_shown(col, raw)} || ' is below the minimum {col.min}{_SEE_RECORD}'",
                )
            )
        if col.max is not None:
            checks.append(
                _reason(
                    "out_of_range",
                    col,
                    f"{typed} > {_literal(col, col.max)}",
                    f"{_shown(col, raw)} || ' is above the maximum {col.max}{_SEE_RECORD}'",
                )
            )
        if col.allowed_values:
            # Not "NOT IN (...)": DuckDB plans a long IN list as a join, and an INSERT through
            # a join no longer keeps the stream's order (rowids give the rows' file positions).
            allowed = ", ".join(sql_str(v) for v in col.allowed_values)
            checks.append(
                _reason(
                    "not_allowed",
                    col,
                    f"NOT list_contains(CAST([{allowed}] AS {col.duckdb_type}[]), {typed})",
                    f"{_shown(col, raw)} || ' is not an allowed value{_SEE_RECORD}'",
                )
            )
        if col.pattern:
            checks.append(
                _reason(
                    "pattern_mismatch",
                    col,
                    f"NOT regexp_matches({typed}, {sql_str(col.pattern)})",
                    f"{_shown(col, raw)} || ' does not match "
                    f"{col.pattern.replace(chr(39), chr(39) * 2)}{_SEE_RECORD}'",
                )
            )
    event = contract.event_time
    if event and event.on_late == "quarantine":
        cutoff = (interval.start - timedelta(hours=event.allowed_lateness_hours)).replace(
            tzinfo=None
        )
        col = contract.column(event.column)
        checks.append(
            _reason(
                "late_arrival",
                col,
                f"r.t_{col.name} < TIMESTAMP '{cutoff.isoformat(sep=' ')}'",
                f"'{col.name}: the event time is more than "
                f"{event.allowed_lateness_hours}h before the interval start "
                f"{interval.start.isoformat()}{_SEE_RECORD}'",
            )
        )
    return checks


def _protected(
    col: Column,
    contract: Contract,
    interval: Interval,
    protect: ProtectionSql,
    params: dict,
    precomputed: bool,
) -> str:
    raw, typed = f"r.{q(col.name)}", f"r.t_{col.name}"
    if precomputed and col.protection in PRECOMPUTED:
        return f"r.{q(protected_column(col))}"
    match col.protection:
        case Protection.KEEP:
            return typed
        case Protection.PSEUDONYMIZE:
            sql, extra = protect.token(raw, f"p_{col.name}")
            params.update(extra)
            return sql
        case Protection.ENCRYPT:
            return protect.encrypt(raw, encryption_context(contract.table, col.name))
        case Protection.SCRUB:
            assert contract.source.region is not None  # the contract requires it
            return protect.scrub(raw, contract.source.region)
        case Protection.GENERALIZE:
            assert col.generalize is not None
            reference = f"DATE '{interval.end.date().isoformat()}'"
            return protect.generalize(col.generalize.value, typed, reference)
    raise ValueError(f"{contract.table}.{col.name}: no lake form for protection {col.protection}")


def _reasons_sql(checks: list[RowCheck], source_reasons: bool = False) -> str:
    """The list of failed checks, or NULL for a record that passed them all (most do: a NULL
    is a bit in the validity mask, cheap to store and to filter on). With ``source_reasons``,
    the raw relation's ``_source_reasons`` (checks its reader failed) come first."""
    if not checks and not source_reasons:
        return f"CAST(NULL AS {REASONS_TYPE})"
    failed = " OR ".join(f"({c.condition})" for c in checks) or "false"
    listed = f"list_filter([{', '.join(c.reason for c in checks)}], x -> x IS NOT NULL)"
    if not checks:
        listed = f"CAST([] AS {REASONS_TYPE})"
    if source_reasons:
        failed = f"r._source_reasons IS NOT NULL OR {failed}"
        listed = f"list_concat(coalesce(r._source_reasons, CAST([] AS {REASONS_TYPE})), {listed})"
    return f"CASE WHEN {failed} THEN {listed} END"


def staged_query(
    contract: Contract,
    interval: Interval,
    raw_relation: str,
    protect: ProtectionSql,
    *,
    precomputed: bool = False,
    source_reasons: bool = False,
) -> StagedQuery:
    """The SELECT producing lake columns, ``_reasons`` and ``_record`` from raw text records.

    With ``precomputed``, the raw relation also holds :func:`protected_column` for every
    pseudonymized, encrypted or scrubbed column, and those values are used as they are. With
    ``source_reasons``, it also holds ``_source_reasons``: checks a reader found failed in the
    file itself (:data:`~pipelines.ingest.readers.NO_SOURCE_REASONS`).
    """
    params: dict[str, object] = {}
    typed = ", ".join(
        f"{typed_expr(c, 'r.' + q(c.name), contract.source)} AS t_{c.name}"
        for c in contract.columns
    )
    lake_cols = [
        f"{_protected(col, contract, interval, protect, params, precomputed)} AS {q(col.lake_name)}"
        for col in contract.written_columns
    ]
    reasons = _reasons_sql(row_checks(contract, interval), source_reasons)
    record_fields = []
    for col in contract.written_columns:
        if col.pii.value == "none":
            value = f"r.{q(col.name)}"
        else:
            protected = _protected(col, contract, interval, protect, params, precomputed)
            value = f"CAST({protected} AS VARCHAR)"
        record_fields.append(f"{sql_str(col.lake_name)}: {value}")
    record = "to_json({" + ", ".join(record_fields) + "})"
    sql = (
        f"SELECT {', '.join(lake_cols)}, r._source_file, r._source_row, r._reasons, "
        f"CASE WHEN r._reasons IS NOT NULL THEN {record} END AS _record "
        f"FROM (SELECT r.*, {reasons} AS _reasons "
        f"FROM (SELECT r.*, {typed} FROM ({raw_relation}) AS r) AS r) AS r"
    )
    return StagedQuery(sql, params)
