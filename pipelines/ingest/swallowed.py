"""A CSV file whose malformed record swallowed the records after it: an error, not a shorter file.

A stray quote (``...,"note 5`` with no closing quote) makes a CSV parser read everything up to
the next quote, line breaks included, as one field. When that record is then rejected as
malformed, every record inside it is gone with it: DuckDB reports one malformed record and
goes on after it, and the file would load short, with the right counts for the wrong file.

So a CSV file with a malformed record is counted twice: its non-blank lines, against what the
parse accounts for (the header, the records kept and their line breaks inside quoted fields,
the malformed records and the line breaks DuckDB shows of them). Lines left over were read
into a malformed record without being shown: :class:`SwallowedRecordsError`. Files without a
malformed record (nearly all) are never counted.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from pipelines.ingest.integrity import UnreadableFileError
from pipelines.ingest.landing import LandingFile
from pipelines.sql import q


class SwallowedRecordsError(UnreadableFileError):
    """A malformed CSV record took in lines that hold other records."""


def _lines(file: LandingFile) -> Iterator[bytes]:
    opener = gzip.open if file.format.endswith(".gz") else open
    with opener(file.path, "rb") as fh:
        yield from fh


def nonblank_lines(file: LandingFile) -> int:
    """Lines holding more than a line end (the parser skips blank ones), header included."""
    return sum(1 for line in _lines(file) if line.strip(b"\r\n"))


def _newlines(column: str) -> str:
    return f"coalesce(length({column}) - length(replace({column}, chr(10), '')), 0)"


def kept_lines(source: duckdb.DuckDBPyConnection, scan_sql: str, header: tuple[str, ...]) -> int:
    """Lines the kept records of ``scan_sql`` (a ``read_csv`` that skips malformed records)
    fill: one per record, plus the line breaks inside their fields."""
    inner = " + ".join(_newlines(q(h)) for h in header) or "0"
    row = source.execute(f"SELECT count(*) + coalesce(sum({inner}), 0) FROM {scan_sql}").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Rejected:
    """What DuckDB shows of a file's malformed records."""

    lines: int  # one per record, plus the line breaks of the text it kept of each
    record: int  # the first one's record number
    byte: int  # and where it starts
    quote_spans: int  # records rejected for their quoting whose text runs over several lines


_QUOTING = "error_type IN ('UNQUOTED VALUE', 'UNTERMINATED QUOTES')"


def rejected(source: duckdb.DuckDBPyConnection, rejects: str) -> Rejected | None:
    """The malformed records in ``rejects`` (DuckDB's reject table), None if there are none."""
    # the text without its own line end (an open quote on the last line takes in only that)
    text = "rtrim(first(csv_line), chr(13) || chr(10))"
    row = source.execute(
        f"SELECT count(*) + coalesce(sum({_newlines('csv_line')}), 0), min(line) - 1, "
        "arg_min(line_byte_position, line), count(*) FILTER (quoting AND csv_line LIKE "
        f"'%' || chr(10) || '%') FROM (SELECT line, {text} AS csv_line, "
        f"min(line_byte_position) AS line_byte_position, bool_or({_QUOTING}) AS quoting "
        f"FROM {rejects} GROUP BY line)"
    ).fetchone()
    if not row or row[1] is None:
        return None
    return Rejected(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def check(file: LandingFile, header: tuple[str, ...], kept: int, shown: Rejected) -> None:
    """Raise :class:`SwallowedRecordsError` if ``file`` holds more non-blank lines than the
    header, the ``kept`` records' lines and the malformed records ``shown`` explain, or if a
    record rejected for its quoting runs over several lines (what it took in may be records:
    a quote opened and never closed reaches the end of the file)."""
    header_lines = 1 + sum(h.count("\n") for h in header)
    missing = nonblank_lines(file) - header_lines - kept - shown.lines
    if missing > 0 or shown.quote_spans:
        took = f"{missing:,} more line(s)" if missing > 0 else "the lines after it"
        raise SwallowedRecordsError(
            f"{file.relative}: the malformed record {shown.record:,} (at byte {shown.byte:,}) "
            f"took in {took}, which may hold other records: a quote opens a field there and "
            "is closed only much later, or never, so the parser read the records after it as "
            "part of one field. Nothing was published: fix the quote in that record (a quote "
            'inside a field is written twice: "") and deliver the file again.'
        )
