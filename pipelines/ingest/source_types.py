"""Whether a landing file's own column types fit the contract's, checked before any cast.

Readers print every value as text and ingestion types that text as the contract declares
(:func:`~pipelines.ingest.transform.typed_expr`). That is exact when the file's type says the
same thing as the contract's, and silently wrong when it does not: an ``int64`` column of cents
where the contract declares ``decimal(12,2)`` would load every price 100 times too high. So
each Parquet column's type, and each JSON lines column's value kinds, are compared with the
contract first.

Parquet (DuckDB's name for the column's type -> contract type):

========================  ====================================================================
contract type             compatible Parquet types
========================  ====================================================================
``string``                VARCHAR
``integer``               any integer type, DECIMAL(p,0)
``decimal(p,s)``          DECIMAL(p2,s2) with s2 <= s; FLOAT, DOUBLE (fractional, so not minor
                          units; a value with more digits than ``s`` is quarantined)
``double``                FLOAT, DOUBLE, DECIMAL, any integer type
``boolean``               BOOLEAN
``date``                  DATE
``timestamp``             TIMESTAMP (any unit; local time in the source's time zone),
                          TIMESTAMP WITH TIME ZONE (converted to UTC) unless the source
                          declares ``timestamp_offsets: quarantine``
========================  ====================================================================

Any other type is a *mismatched type*: integers where a decimal is declared (minor units?),
integers where a timestamp is declared (epoch seconds or milliseconds?), a timestamp where a
date is declared (the time would be dropped), a date where a timestamp is, nested types, ...
It is schema drift (:class:`~pipelines.ingest.readers.SchemaDriftError`, naming the file, the
column, both types and what to do) unless the contract's ``schema_policy.mismatched_types`` is
``parse``. A VARCHAR column where another type is declared is parsed like CSV text unless
``schema_policy.text_columns`` is ``fail``.

JSON lines have value kinds, not column types. A JSON string is text and is parsed like CSV
text for every contract type (JSON has no decimal, date or timestamp). Other kinds:

* ``string`` columns take strings only (a number where text is declared has lost its
  formatting, e.g. leading zeros);
* ``integer`` and ``double`` columns take numbers; ``decimal(p,s)`` columns take numbers, but
  a column whose values in a file are all integer numbers (``1990``) is mismatched when
  ``s > 0``: minor units cannot be told from whole amounts (write ``19.90`` or ``"19.90"``);
* ``boolean`` columns take ``true``/``false``;
* ``date`` and ``timestamp`` columns take strings only (a number: epoch seconds or
  milliseconds?);
* objects and arrays fit no column.

A column whose values in a file are all of mismatched kinds is mismatched, as for Parquet.
Where only some records hold a mismatched kind, those records are quarantined as
``type_error`` and the others load: in a ``string`` or ``boolean`` column the reason names
the kind (the reader finds it, ``readers._json_record_reasons``); in any other column the
value's text does not parse (``'1514768400' is not a valid timestamp``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from pipelines.contracts import Column, Contract

_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
_FLOATS = {"FLOAT", "DOUBLE"}
_NAIVE_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
_TZ_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_CONTRACT_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


@dataclass(frozen=True)
class TypeProblem:
    """A file column whose type does not fit the contract's."""

    column: str
    found: str  # the file's type, as DuckDB names it, or the JSON kinds found
    declared: str  # the contract's type
    why: str  # what could go wrong
    text: bool = False  # a text column where a non-text type is declared


def _scale(duckdb_type: str) -> int | None:
    match = _DECIMAL.match(duckdb_type)
    return int(match.group(2)) if match else None


def _declared_scale(col: Column) -> int:
    match = _CONTRACT_DECIMAL.match(col.type)
    return int(match.group(2)) if match else 0


# A Parquet type against a declared kind: FITS, the reason it does not fit, or None when
# the kind has nothing specific to say (the generic reason then applies).
_FITS: Final = True
_Verdict = Literal[True] | str | None


def parquet_problem(contract: Contract, col: Column, found: str) -> TypeProblem | None:
    """Whether the Parquet type ``found`` (DuckDB's name) fits ``col``; None if it does."""
    kind = col.type
    if found == "VARCHAR":
        if kind == "string":
            return None
        return TypeProblem(col.name, found, kind, "text where a typed value is declared", True)
    verdict = _parquet_verdict(contract, col, found)
    if verdict is _FITS:
        return None
    why = verdict or f"a {found} column where {kind} is declared"
    return TypeProblem(col.name, found, kind, why)


def _parquet_verdict(contract: Contract, col: Column, found: str) -> _Verdict:
    kind, scale = col.type, _scale(found)
    if kind == "string":
        return "text is declared: formatting such as leading zeros is already lost"
    if kind.startswith("decimal"):
        return _decimal_verdict(col, found, scale)
    if kind == "date":
        return _date_verdict(found)
    if kind == "timestamp":
        return _timestamp_verdict(contract, found)
    fits = {
        "integer": found in _INTEGERS or scale == 0,
        "double": found in _INTEGERS or found in _FLOATS or scale is not None,
        "boolean": found == "BOOLEAN",
    }
    return _FITS if fits.get(kind) else None


def _decimal_verdict(col: Column, found: str, scale: int | None) -> _Verdict:
    declared = _declared_scale(col)
    if (scale is not None and scale <= declared) or found in _FLOATS:
        return _FITS
    if scale is not None:
        return f"{scale} decimal places where the contract keeps {declared}"
    if found in _INTEGERS:
        return (
            "integers where a decimal is declared: if they are minor units (cents), every "
            f"value would load {10**declared:,} times too high"
        )
    return None


def _date_verdict(found: str) -> _Verdict:
    if found == "DATE":
        return _FITS
    if found in _NAIVE_TIMESTAMPS or found == _TZ_TIMESTAMP:
        return "a timestamp where a date is declared: the time of day would be lost"
    return None


def _timestamp_verdict(contract: Contract, found: str) -> _Verdict:
    if found in _NAIVE_TIMESTAMPS:
        return _FITS
    if found == _TZ_TIMESTAMP:
        if contract.source.timestamp_offsets == "convert":
            return _FITS
        return (
            "instants with a time zone where the source's timestamps must be local "
            f"{contract.source.timezone} time (source.timestamp_offsets: quarantine)"
        )
    if found == "DATE":
        return "a date where a timestamp is declared: no time of day"
    if found in _INTEGERS:
        return "numbers where a timestamp is declared: epoch seconds or milliseconds?"
    return None


def parquet_text(col: Column, found: str, name_sql: str) -> str:
    """SQL: the Parquet column ``name_sql`` (of type ``found``) as text for typing.

    A ``TIMESTAMP WITH TIME ZONE`` is printed in UTC with its offset, so typing converts it
    exactly whatever the session's time zone; everything else prints as DuckDB prints it.
    """
    if col.type == "timestamp" and found == _TZ_TIMESTAMP:
        return f"CAST(timezone('UTC', {name_sql}) AS VARCHAR) || '+00:00'"
    return f"CAST({name_sql} AS VARCHAR)"


# JSON value kinds, as ``json_type`` names them, and how a reason names them.
KIND_NAMES = {
    "VARCHAR": "string",
    "BIGINT": "integer number",
    "UBIGINT": "integer number",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "OBJECT": "object",
    "ARRAY": "array",
}
_NUMBERS = {"BIGINT", "UBIGINT", "DOUBLE"}


def json_allowed_kinds(col: Column) -> set[str]:
    """The JSON value kinds ``col`` takes (``json_type`` names)."""
    kind = col.type
    if kind in ("string", "date", "timestamp"):
        return {"VARCHAR"}
    if kind == "boolean":
        return {"VARCHAR", "BOOLEAN"}
    return {"VARCHAR", *_NUMBERS}


def json_column_problem(col: Column, kinds: set[str]) -> TypeProblem | None:
    """Whether the value kinds ``kinds`` found in one file's column fit ``col`` as a whole.

    None when at least one kind fits (records of other kinds are quarantined one by one).
    """
    found = sorted({KIND_NAMES[k] for k in kinds})
    allowed = json_allowed_kinds(col)
    if kinds and not kinds & allowed:
        why = (
            f"numbers where a {col.type} is declared: epoch seconds, milliseconds or days?"
            if col.type in ("date", "timestamp") and kinds <= _NUMBERS
            else "values of this kind cannot hold it"
        )
        return TypeProblem(col.name, "JSON " + " and ".join(found), col.type, why)
    scale = _declared_scale(col) if col.type.startswith("decimal") else 0
    if scale and kinds and kinds <= _NUMBERS and "DOUBLE" not in kinds:
        return TypeProblem(
            col.name,
            "JSON integer numbers only",
            col.type,
            "whole numbers where a decimal is declared: if they are minor units (cents), "
            f"every value would load {10**scale:,} times too high",
        )
    return None


def json_mismatched_kinds(col: Column, kinds: set[str]) -> set[str]:
    """The kinds found in a column that records are quarantined for (when others fit)."""
    return kinds - json_allowed_kinds(col)


def drift_message(contract: Contract, file: str, problems: list[TypeProblem]) -> str:
    """The schema drift error for ``problems`` in ``file``: what was found and what to do."""
    listed = "; ".join(
        f"column {p.column}: found {p.found}, contract declares {p.declared} ({p.why})"
        for p in problems
    )
    texts = all(p.text for p in problems)
    setting = "text_columns: parse" if texts else "mismatched_types: parse"
    return (
        f"{file}: column type(s) do not fit the contract: {listed} "
        f"(contract {contract.version_tag}). Fix the export to write the declared types, or, "
        f"if the values mean exactly what the contract says, set schema_policy.{setting} in "
        f"the {contract.table} contract; nothing was published."
    )
