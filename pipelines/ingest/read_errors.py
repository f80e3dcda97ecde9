"""DuckDB errors reduced to a locator and a class, never the input text.

DuckDB's parser and JSON functions quote the record they fail on (``Original Line: ...``,
``Input: "..."``), and a landing record can hold clear personal data. Ingestion never lets
such a message out (exception text, logs, lineage): :func:`reduced` turns it into a
:class:`ReadError` naming the file (or stage), the kind of error and the numbers that locate it
(record, byte), taken from DuckDB's message by anchored patterns that match digits only.
"""

from __future__ import annotations

import re

import duckdb

_KINDS = (
    ("Malformed JSON", "malformed JSON"),
    ("Invalid unicode", "invalid UTF-8"),
    ("CSV Error", "CSV parse error"),
    ("gzip", "corrupt gzip data"),
    ("zlib", "corrupt gzip data"),
    ("Conversion Error", "value conversion error"),
    ("state machine reached an invalid state", "line ends the reader cannot follow (a lone CR?)"),
)
"""Substring of DuckDB's message -> the kind of error reported."""

_LOCATORS = (
    (re.compile(r"CSV Error on Line: (\d+)"), "line {}"),
    (re.compile(r"at byte (\d+) of input"), "byte {} of the value"),
)


class ReadError(RuntimeError):
    """DuckDB failed while ingesting; the message locates the failure without quoting data."""


def describe(exc: BaseException) -> str:
    """The kind of a DuckDB error and its locators, e.g. ``malformed JSON (byte 15 of the
    value)``; the class name when the kind is not known. Never any of the message's text."""
    text = str(exc)
    kind = next((k for marker, k in _KINDS if marker in text), None)
    if isinstance(exc, duckdb.OutOfMemoryException):
        kind = "out of memory (raise duckdb_memory_limit, or give fewer threads)"
    kind = kind or f"DuckDB {type(exc).__name__}"
    where = [template.format(m.group(1)) for p, template in _LOCATORS if (m := p.search(text))]
    return f"{kind} ({', '.join(where)})" if where else kind


def reduced(exc: BaseException, where: str) -> ReadError:
    """A :class:`ReadError` for ``exc`` at ``where`` (a file or a stage). Raise it outside the
    ``except`` block that caught ``exc``, so that DuckDB's message is not its context."""
    return ReadError(
        f"{where}: {describe(exc)}; DuckDB's message is withheld because it can quote a "
        "record. Nothing was published."
    )
