"""Quoting for the SQL the project writes itself (DuckDB): string and value literals,
identifiers and JSON paths. For names, paths and settings we control, never for data values (those are bound
as parameters or read from files)."""

from __future__ import annotations


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_literal(value: object) -> str:
    """A SQL literal of a configured value (a check's bound, pattern or allowed value): a
    boolean, a number, else its text as a string literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return sql_str(str(value))


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def json_path(key: str) -> str:
    """A SQL literal of the JSON path to the object key ``key`` (``'$."key"'``)."""
    return sql_str('$."' + key.replace('"', '\\"') + '"')
