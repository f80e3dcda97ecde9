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

from pipelines.contracts import Column, Contract, Source
from pipelines.ingest.readers import REASONS_TYPE
from pipelines.ingest.timestamps import timestamp_error, timestamp_expr
from pipelines.lake.interval import Interval
from pipelines.lake.quarantine import held_clear
from pipelines.protection.types import SqlKeys, Target, sql_form
from pipelines.protection_types import PROTECTION_TYPES
from pipelines.rowchecks import SEE_RECORD, ColumnSql, Failure, column_checks, table_checks
from pipelines.sql import q, sql_str

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_UTC_SOURCE = Source(file_stem="-")


ProtectionSql = SqlKeys
"""The keyed SQL building blocks of PII protection; every type's SQL form is in
:data:`pipelines.protection.types.APPLICATIONS`."""


KEYED = tuple(p for p, t in PROTECTION_TYPES.items() if t.key_purpose)
"""Protections that need key material."""

PRECOMPUTED = tuple(p for p, t in PROTECTION_TYPES.items() if t.precomputed)
"""Protections ingestion computes outside SQL, on whole Arrow batches: the keyed ones, and
scrubbing (its detectors are Python: :mod:`pipelines.protection.detect`)."""


def is_precomputed(col: Column) -> bool:
    """Whether ingestion computes ``col``'s lake value on Arrow batches of its raw text.

    Only for text columns: a typed column's token or ciphertext is of its typed value printed
    canonically (``13085.0`` and ``13085`` are one integer, so one token), which the staged
    query computes (:attr:`~pipelines.protection.types.Target.clear`)."""
    return col.protection in PRECOMPUTED and col.type == "string"


def canonical_text(col: Column, value: str, source: Source | None = None) -> str:
    """``value`` as ingestion prints ``col``'s typed value before keyed protection
    (:attr:`~pipelines.protection.types.Target.clear`): a subject id typed ``13085.0``
    finds the token ingestion made of ``13085``. Text that does not parse stays as it is."""
    if col.type == "string":
        return value
    import duckdb

    with duckdb.connect() as con:
        row = con.execute(
            f"SELECT coalesce(CAST({typed_expr(col, '$v', source)} AS VARCHAR), $v)", {"v": value}
        ).fetchone()
    return str(row[0]) if row else value


def protected_column(col: Column) -> str:
    """The raw-relation column holding ``col``'s precomputed token, ciphertext or scrubbed
    text."""
    return f"_protected_{col.name}"


def lake_struct(contract: Contract, alias: str, *, text: bool = False) -> str:
    """The fields of a struct literal of the lake values of ``alias`` (as text: a quarantine
    ``_record``). Qualified: an ``UPDATE staged ... FROM`` brings columns of its own, and a
    contract's column may have the same name (``id``)."""
    fields = []
    for col in contract.written_columns:
        value = f"{alias}.{q(col.lake_name)}"
        fields.append(f"{sql_str(col.lake_name)}: {f'CAST({value} AS VARCHAR)' if text else value}")
    return ", ".join(fields)


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


def _shown(col: Column, raw: str) -> str:
    """How a bad value appears in a quarantine reason: never, whatever the column's class (an
    e-mail typed into a status column is personal data too). The reason names the column; the
    value is in the record, encrypted (:mod:`pipelines.lake.quarantine`)."""
    return sql_str(f"{col.name}: the value")


@dataclass(frozen=True)
class RowCheck:
    condition: str  # true when the record fails the check
    reason: str  # the ``{check, column, reason}`` struct when it fails, else NULL


def _reason(check: str, col: Column | None, failure: Failure) -> RowCheck:
    column = sql_str(col.name) if col else "NULL"
    return RowCheck(
        failure.condition,
        f"CASE WHEN {failure.condition} THEN {{'check': {sql_str(check)}, 'column': {column}, "
        f"'reason': {failure.message}}} END",
    )


def _type_message(col: Column, source: Source) -> str:
    raw = f"r.{q(col.name)}"
    if col.type == "timestamp":
        return f"({timestamp_error(raw, _shown(col, raw), source)}) || '{SEE_RECORD}'"
    match = _DECIMAL.match(col.type)
    if match:
        return f"({_decimal_error(raw, _shown(col, raw), int(match[1]), int(match[2]))}) || '{SEE_RECORD}'"
    return f"{_shown(col, raw)} || ' is not a valid {col.type}{SEE_RECORD}'"


def _decimal_error(raw: str, shown: str, precision: int, scale: int) -> str:
    """Why a number does not fit ``decimal(precision,scale)``: too many decimals, or too
    many digits before the point; else it is no number as the contract reads one."""
    kind = f"decimal({precision},{scale})"
    return (
        f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]*\\.[0-9]*[1-9][0-9]*') AND "
        f"length(rtrim(regexp_extract(trim({raw}), '\\.([0-9]+)', 1), '0')) > {scale} "
        f"THEN {shown} || ' has more than {scale} decimal place(s) ({kind}): round it at the "
        "source or widen the scale' "
        f"WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+(\\.[0-9]*)?') "
        f"THEN {shown} || ' has more than {precision - scale} digit(s) before the decimal "
        f"point ({kind})' "
        f"ELSE {shown} || ' is not a valid {kind}' END"
    )


def row_checks(contract: Contract, interval: Interval) -> list[RowCheck]:
    """The row-level checks of :mod:`pipelines.rowchecks` the contract asks for, over columns
    ``r.<col>`` (raw text) and ``r.t_<col>`` (typed)."""
    checks = []
    for col in contract.columns:
        built = ColumnSql(col, contract, _type_message(col, contract.source))
        for check in column_checks(col):
            checks += [_reason(check.name, col, f) for f in check.sql(built)]
    for table_check, column in table_checks(contract):
        col = contract.column(column)
        checks += [
            _reason(table_check.name, col, f)
            for f in table_check.sql(contract, interval.start, interval.end)
        ]
    return checks


def _protected(
    col: Column,
    contract: Contract,
    interval: Interval,
    protect: ProtectionSql,
    params: dict,
    precomputed: bool,
) -> str:
    if precomputed and is_precomputed(col):
        return f"r.{q(protected_column(col))}"
    reference = f"DATE '{interval.end.date().isoformat()}'"
    target = Target(contract, col, f"r.{q(col.name)}", f"r.t_{col.name}", reference)
    sql, extra = sql_form(target, protect)
    params.update(extra)
    return sql


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
        if held_clear(col):  # the quarantine encrypts it (pipelines.lake.quarantine)
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
