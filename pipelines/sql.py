"""Quoting for the SQL the project writes itself (DuckDB): string literals, identifiers and
JSON paths. For names, paths and settings we control, never for data values (those are bound
as parameters or read from files)."""

from __future__ import annotations


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def json_path(key: str) -> str:
    """A SQL literal of the JSON path to the object key ``key`` (``'$."key"'``)."""
    return sql_str('$."' + key.replace('"', '\\"') + '"')
