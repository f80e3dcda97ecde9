"""Reading landing files into DuckDB as text, with exact provenance and no silent loss.

A reader turns one landing file into a *raw relation*: SQL yielding one VARCHAR column per
contract column plus ``_source_file`` and ``_source_row`` (the 1-based data record number within
the file; NULL for CSV, whose parser does not number records). Reading a file has four steps:

1. :func:`open_file` checks that the file is text (no NUL byte in its first 8 KB; a CSV
   header in UTF-8) and its columns against the contract, and returns a :class:`FileScan`
   holding the raw relation; nothing is loaded yet.
2. The loader (:mod:`pipelines.ingest.stream`) streams the raw relations of all files, in
   order, through protection and typing into the temp table ``staged`` (so clear text is never
   materialized), counts each file's records and numbers CSV records 1, 2, ... in the order
   the parser produced them.
3. Right after a file's scan, on the connection that ran it, :func:`collect_malformed` takes
   the records the parser could not split into the right columns (or decode as UTF-8), and
   the JSON lines that are no JSON object, with their record (line) number, the parser's
   error class and position (never its message, which quotes the record) and their text
   passed through ``protect_text`` (encryption), never in clear.
4. :func:`finish_file` checks that the file's rows kept file order in ``staged``, shifts
   record numbers past the records the parser skipped and adds the malformed records to the
   temp table ``malformed``.

Two DuckDB instances take part: ``source`` runs everything that reads a file (the raw
relations, the parser's reject tables, ``protect_text``), and ``con`` holds ``staged`` and
``malformed``. The instance that sees clear text never spills to disk, and inserting into
``staged`` is not slowed by a file scan in flight. Only protected values cross from ``source``
to ``con``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.contracts import Column, Contract
from pipelines.ingest import swallowed
from pipelines.ingest.integrity import CorruptFileError, UnreadableFileError, read_to_end
from pipelines.ingest.landing import LandingFile
from pipelines.ingest.read_errors import reduced
from pipelines.ingest.source_types import (
    KIND_NAMES,
    TypeProblem,
    drift_message,
    json_column_problem,
    json_mismatched_kinds,
    parquet_problem,
    parquet_text,
)
from pipelines.sql import json_path, q, sql_str


class SchemaDriftError(ValueError):
    """A landing file's columns differ from its contract in a way the contract does not allow."""


@dataclass
class FileRead:
    """What reading one file produced."""

    file: LandingFile
    parsed: int = 0
    malformed: int = 0
    missing_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.parsed + self.malformed


REASONS_TYPE = 'STRUCT("check" VARCHAR, "column" VARCHAR, reason VARCHAR)[]'
"""The type of a record's failed checks (``_reasons`` in staging)."""

NO_SOURCE_REASONS = f"CAST(NULL AS {REASONS_TYPE}) AS _source_reasons"
"""A raw relation's ``_source_reasons``: failed checks a reader found in the file itself (a
JSON value of a kind its column cannot take), NULL for a record with none."""


ProtectText = Callable[[str], str]
"""Wraps a SQL text expression so that its value is protected (encrypted) before storage."""


@dataclass
class FileScan:
    """A landing file whose columns passed the contract checks, ready to be loaded."""

    read: FileRead
    raw_sql: str  # the raw relation
    index: int  # position among the files of one load; names the file's reject tables
    malformed: pa.Table | None = None  # set by collect_malformed: protected records only
    header: tuple[str, ...] = ()  # CSV only: the file's columns, in order
    empty: bool = False  # nothing but white space: no records, no reject tables

    @property
    def numbered(self) -> bool:
        """Whether the raw relation numbers its records (else the loader counts them)."""
        return self.read.file.format not in ("csv", "csv.gz")


def create_malformed_table(con: duckdb.DuckDBPyConnection) -> None:
    """``skipped``: the parser skipped the record, so the loader's numbering does not count it
    (every malformed CSV record; JSON lines the line reader rejected)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE malformed (_source_file VARCHAR, _source_row BIGINT, "
        "error VARCHAR, raw_text VARCHAR, skipped BOOLEAN)"
    )


def open_file(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    """Check ``file``'s columns against ``contract``; :class:`SchemaDriftError` if they differ
    in a way the contract does not allow, :class:`UnreadableFileError` if it is not text (or
    not gzip). DuckDB's errors are reduced to a locator (:mod:`~pipelines.ingest.read_errors`).
    """
    failure = None
    try:
        return _open(source, contract, file, index)
    except duckdb.Error as exc:
        failure = reduced(exc, file.relative)
    raise failure


def _open(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    if file.format in ("csv", "csv.gz"):
        return _open_csv(contract, file, index)
    if file.format in ("jsonl", "jsonl.gz"):
        return _open_jsonl(source, contract, file, index)
    if file.format == "parquet":
        return _open_parquet(source, contract, file, index)
    raise ValueError(f"{file.relative}: unsupported format {file.format!r}")


def collect_malformed(
    source: duckdb.DuckDBPyConnection, scan: FileScan, protect_text: ProtectText
) -> None:
    """Take the file's malformed records (protected) into ``scan.malformed``.

    Call it on the connection that ran the file's raw relation, once that is read to the end.
    """
    if scan.empty:
        scan.malformed = None
    elif scan.read.file.format in ("csv", "csv.gz"):
        scan.malformed = _csv_rejects(source, scan, protect_text)
    elif scan.read.file.format in ("jsonl", "jsonl.gz"):
        scan.malformed = _json_invalid_lines(source, scan, protect_text)
    else:
        scan.malformed = None
    scan.read.malformed = scan.malformed.num_rows if scan.malformed is not None else 0


def finish_file(
    con: duckdb.DuckDBPyConnection, scan: FileScan, first: int, parsed: int
) -> FileRead:
    """After the load: check the file's rows, fix their numbers, record its malformed records.

    The load put the file's ``parsed`` records into ``staged`` from rowid ``first`` on.
    """
    scan.read.parsed = parsed
    _check_file_order(con, scan, first)
    if scan.malformed is not None and scan.malformed.num_rows:
        _insert_malformed(con, scan.malformed)
        _shift_past_malformed(con, scan, first)
    if not scan.read.records:
        what = "is empty" if scan.empty else "holds no records"
        scan.read.warnings.append(
            f"{scan.read.file.relative} {what}: it adds nothing to the partition; check that "
            "the export was complete"
        )
    return scan.read


class FileOrderError(RuntimeError):
    """Staged rows are not in file order: row numbers and first occurrences would be wrong."""


def _check_file_order(con: duckdb.DuckDBPyConnection, scan: FileScan, first: int) -> None:
    """Raise unless the file's rows hold rowids ``first, first + 1, ...`` in file order.

    Everything after the load relies on it (duplicate keys keep the first occurrence, the lake
    is written in rowid order). CSV and Parquet records are numbered 1, 2, ... in file order,
    so each must sit at its own offset; JSON lines are numbered by line, so only their file is
    checked.
    """
    file = scan.read.file.relative
    wrong = "_source_file IS DISTINCT FROM ?"
    if scan.read.file.format not in ("jsonl", "jsonl.gz"):
        wrong += f" OR _source_row IS DISTINCT FROM rowid - {first} + 1"
    row = con.execute(
        f"SELECT count(*) FROM staged WHERE rowid >= {first} "
        f"AND rowid < {first + scan.read.parsed} AND ({wrong})",
        [file],
    ).fetchone()
    if row and row[0]:
        raise FileOrderError(
            f"{file}: {row[0]:,} of {scan.read.parsed:,} records did not keep file order in "
            "staging, so their row numbers cannot be trusted; nothing was published"
        )


def _insert_malformed(con: duckdb.DuckDBPyConnection, records: pa.Table) -> None:
    """Insert an Arrow table of protected malformed records into ``malformed``."""
    con.register("_malformed_records", records)
    try:
        con.execute("INSERT INTO malformed SELECT * FROM _malformed_records")
    finally:
        con.unregister("_malformed_records")


def _check_columns(contract: Contract, file: LandingFile, present: list[str]) -> FileRead:
    """Compare a file's columns with the contract and apply its schema policy."""
    result = FileRead(file)
    seen = [c.strip() for c in present]
    duplicates = sorted({c for c in seen if seen.count(c) > 1})
    if duplicates:
        raise SchemaDriftError(f"{file.relative}: duplicate column(s) {', '.join(duplicates)}")
    # Columns arrive under their source names (the contract name unless ``source_name``).
    by_header = {c.header: c.name for c in contract.columns}
    missing_headers = [h for h in by_header if h not in seen]
    missing = [by_header[h] for h in missing_headers]
    extra = [c for c in seen if c not in by_header]
    policy = contract.schema_policy
    problems = []
    if missing and policy.missing_columns == "fail":
        problems.append(f"missing column(s) {', '.join(missing_headers)}")
    if extra and policy.extra_columns == "fail":
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if problems:
        raise SchemaDriftError(
            f"{file.relative}: {'; '.join(problems)} (contract {contract.version_tag}; "
            f"schema_policy: missing_columns={policy.missing_columns}, "
            f"extra_columns={policy.extra_columns})"
        )
    required_missing = [c for c in missing if contract.column(c).required]
    if required_missing:
        raise SchemaDriftError(
            f"{file.relative}: missing required column(s) {', '.join(required_missing)} "
            f"(contract {contract.version_tag})"
        )
    result.missing_columns = missing
    result.ignored_columns = extra
    return result


def _select_list(contract: Contract, present: set[str], values: dict[str, str]) -> str:
    """The contract's columns, by contract name, from the file's columns (by source name)."""
    parts = []
    for col in contract.columns:
        if col.header in present:
            parts.append(f"NULLIF({values[col.header]}, '') AS {q(col.name)}")
        else:
            parts.append(f"NULL::VARCHAR AS {q(col.name)}")
    return ", ".join(parts)


_HEADER_LIMIT = 1 << 20
"""Longest header line read (1 MB)."""

_SNIFF = 8192
"""A NUL byte in a file's first bytes marks it as binary, not text."""


def _head(file: LandingFile) -> tuple[bytes, bytes]:
    """The file's first line and its first bytes (decompressed); a gzip file that cannot be
    read from its start is a :class:`CorruptFileError` naming the byte."""
    opener = gzip.open if file.format.endswith(".gz") else open
    try:
        with opener(file.path, "rb") as fh:
            line = fh.readline(_HEADER_LIMIT)
            head = line + fh.read(max(0, _SNIFF - len(line)))
    except (OSError, EOFError, zlib.error):
        read_to_end(file)  # raises, naming the byte
        raise CorruptFileError(f"{file.relative}: not readable gzip data") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFileError(
            f"{file.relative}: UTF-16 text (it starts with a UTF-16 byte order mark); "
            "deliver it in UTF-8. Nothing was published."
        )
    nul = head.find(b"\x00", 0, _SNIFF)
    if nul >= 0:
        raise UnreadableFileError(
            f"{file.relative}: binary data (a NUL byte at byte {nul:,}), not a "
            f"{file.format} text file; nothing was published. Check what was delivered."
        )
    return line, head


def _csv_header(file: LandingFile) -> list[str] | None:
    """The file's columns, None if it holds nothing but white space."""
    line, head = _head(file)
    if not line.strip():
        if not head.strip():
            return None
        raise SchemaDriftError(f"{file.relative}: the first line is empty: no header line")
    if not line.endswith(b"\n") and len(line) >= _HEADER_LIMIT:
        raise UnreadableFileError(
            f"{file.relative}: no line end in the first {_HEADER_LIMIT:,} bytes: not a CSV "
            "text file?"
        )
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            f"{file.relative}: the header line is not UTF-8 text (byte {exc.start:,}), so its "
            "columns cannot be checked; deliver the file in UTF-8. Nothing was published."
        ) from None
    try:
        return next(csv.reader(io.StringIO(text)))
    except csv.Error:
        ends = "lone CR (\\r) line ends, which" if "\r" in text.rstrip("\r\n") else "a header"
        raise UnreadableFileError(
            f"{file.relative}: the header line cannot be read as CSV ({ends} this reader does "
            "not take); deliver the file with LF or CRLF line ends and one header line. "
            "Nothing was published."
        ) from None


_LINE_LIMITS = "max_line_size=10000000, buffer_size=33554432"
"""Records up to 10 MB. DuckDB's read buffer would default to 16 times that (160 MB per file
being read, and a quarter slower to parse); 32 MB holds any record that size."""


def _rejects_tables(scan: FileScan) -> tuple[str, str]:
    return f"_rejects_{scan.index}", f"_reject_scans_{scan.index}"


def csv_scan(paths: list[str], header: tuple[str, ...], *options: str) -> str:
    """``read_csv`` of ``paths`` (same ``header``) as text: strict, no type detection;
    ``options`` are more of its parameters (``"store_rejects=true"``)."""
    listing = "[" + ", ".join(sql_str(p) for p in paths) + "]"
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    parameters = ", ".join(["strict_mode=true", *options, _LINE_LIMITS])
    return (
        f"read_csv({listing}, header=true, auto_detect=false, columns={columns}, "
        f"delim=',', quote='\"', escape='\"', {parameters})"
    )


def csv_select_list(contract: Contract, header: tuple[str, ...]) -> str:
    """The contract's columns from a CSV scan: empty fields as NULL, absent columns NULL."""
    return _select_list(contract, set(header), {h: q(h) for h in header})


def _empty_scan(contract: Contract, file: LandingFile, index: int) -> FileScan:
    """A file holding nothing but white space: no records."""
    select = _select_list(contract, set(), {})
    raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"NULL::BIGINT AS _source_row, {NO_SOURCE_REASONS} WHERE false"
    )
    return FileScan(FileRead(file), raw_sql, index, empty=True)


def _open_csv(contract: Contract, file: LandingFile, index: int) -> FileScan:
    present = _csv_header(file)
    if present is None:
        return _empty_scan(contract, file, index)
    result = _check_columns(contract, file, present)
    header = tuple(h.strip() for h in present)
    scan = FileScan(result, "", index, header=header)
    source = _rejecting_scan(scan)
    select = csv_select_list(contract, header)
    scan.raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"NULL::BIGINT AS _source_row, {NO_SOURCE_REASONS} FROM {source}"
    )
    return scan


def _rejecting_scan(scan: FileScan) -> str:
    """``read_csv`` of the scan's file that stores malformed records in its reject tables."""
    rejects, reject_scans = _rejects_tables(scan)
    return csv_scan(
        [str(scan.read.file.path)],
        scan.header,
        "store_rejects=true",
        f"rejects_table={sql_str(rejects)}",
        f"rejects_scan={sql_str(reject_scans)}",
    )


def _csv_rejects(
    source: duckdb.DuckDBPyConnection, scan: FileScan, protect_text: ProtectText
) -> pa.Table:
    rejects, _ = _rejects_tables(scan)
    # One record can produce several reject rows (one per problem); keep one per record.
    # DuckDB's reject "line" counts records, the header being line 1.
    records = source.execute(
        f"SELECT ? AS _source_file, line - 1 AS _source_row, {_REJECT_REASON} AS error, "
        f"{protect_text('first(csv_line)')} AS raw_text, true AS skipped "
        f"FROM {rejects} GROUP BY line",
        [scan.read.file.relative],
    ).to_arrow_table()
    shown = swallowed.rejected(source, rejects) if records.num_rows else None
    _drop_rejects(source, scan)
    if shown is not None:
        _check_nothing_swallowed(source, scan, shown)
        _drop_rejects(source, scan)
    return records


def _check_nothing_swallowed(
    source: duckdb.DuckDBPyConnection, scan: FileScan, shown: swallowed.Rejected
) -> None:
    """Raise if the file's malformed records hid other records (:mod:`.swallowed`)."""
    kept = swallowed.kept_lines(source, _rejecting_scan(scan), scan.header)
    swallowed.check(scan.read.file, scan.header, kept, shown)


_REJECT_REASON = (
    "string_agg(DISTINCT error_type || coalesce(' in column ' || column_name, ''), '; ') "
    "|| ' (record at byte ' || min(line_byte_position) || ')'"
)
"""A rejected record's reason: DuckDB's error classes and the byte where the record starts;
never DuckDB's message, which can quote the record."""

_LINE_REJECT_REASON = (
    "string_agg(DISTINCT CASE error_type WHEN 'TOO MANY COLUMNS' THEN 'a raw 0x1F byte' "
    "WHEN 'INVALID ENCODING' THEN 'invalid UTF-8 (INVALID ENCODING)' "
    "WHEN 'LINE SIZE OVER MAXIMUM' THEN 'longer than 10 MB' ELSE error_type END, '; ') "
    "|| ' (line at byte ' || min(line_byte_position) || ')'"
)
"""The same for a JSON line the line reader rejected (its one column ``j`` is no name)."""


def _drop_rejects(source: duckdb.DuckDBPyConnection, scan: FileScan) -> None:
    for table in _rejects_tables(scan):
        source.execute(f"DROP TABLE IF EXISTS {table}")


def _shift_past_malformed(con: duckdb.DuckDBPyConnection, scan: FileScan, first: int) -> None:
    """The loader numbered the records the parser kept 1, 2, ...: shift each one past the
    records the parser skipped before it in the file so _source_row is the true number."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _gaps AS {_GAPS} FROM malformed "
        "WHERE _source_file = ? AND skipped",
        [scan.read.file.relative],
    )
    con.execute(
        "UPDATE staged SET _source_row = _source_row + "
        "(SELECT count(*) FROM _gaps WHERE valid_before < staged._source_row) "
        f"WHERE rowid >= {first} AND rowid < {first + scan.read.parsed}"
    )


_GAPS = "SELECT _source_row - row_number() OVER (ORDER BY _source_row) AS valid_before"
"""For each skipped record (numbered ``_source_row``): how many kept records precede it."""


def _json_lines(file: LandingFile, *options: str) -> str:
    """The file's non-blank lines ``j``, numbered ``n`` 1, 2, ... among the lines the reader
    kept (blank lines count). Lines the reader rejects (invalid UTF-8, a 0x1F byte, too long)
    are skipped, or stored with ``options`` ``store_rejects=true``.

    ``is_object`` tests validity first: DuckDB's JSON functions raise on invalid JSON with a
    message quoting the line, and a filter's terms may run in any order.
    """
    # Valid JSON never contains raw control characters, so a line holding \x1f is invalid.
    # Lines end with \n or \r\n (strict mode refuses a lone \r inside a line: a named error).
    parameters = ", ".join([*(options or ("ignore_errors=true",)), _LINE_LIMITS])
    return (
        "(SELECT j, row_number() OVER () AS n, "
        "CASE WHEN json_valid(j) THEN json_type(j) = 'OBJECT' ELSE false END AS is_object FROM "
        f"read_csv({sql_str(str(file.path))}, columns={{'j': 'VARCHAR'}}, header=false, "
        "auto_detect=false, delim=E'\\x1f', quote='', escape='', "
        f"strict_mode=true, {parameters})) AS lines "
        "WHERE j IS NOT NULL AND trim(j) <> ''"
    )


_JSON_OBJECT = "is_object"


def _open_jsonl(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    _head(file)  # binary data is a named error
    lines = _json_lines(file)
    paths = [json_path(c.header) for c in contract.columns]
    kinds = ", ".join(
        f"list_distinct(list(nullif(k[{i}], 'NULL')))" for i in range(1, len(paths) + 1)
    )
    row = source.execute(
        f"SELECT list_sort(list_distinct(flatten(list(json_keys(j))))), {kinds} "
        f"FROM (SELECT j, json_type(j, [{', '.join(paths)}]) AS k FROM {lines} "
        f"AND {_JSON_OBJECT}) AS objects"
    ).fetchone()
    keys = list(row[0] or []) if row else []
    result = _check_columns(contract, file, keys or [c.header for c in contract.columns])
    found = {
        c.name: set(row[i + 1] or []) if row else set() for i, c in enumerate(contract.columns)
    }
    problems = [p for c in contract.columns if (p := json_column_problem(c, found[c.name]))]
    _check_types(contract, file, problems)
    for problem in problems:  # allowed by the policy: parsed as text, like CSV
        found[problem.column] = set()
    values = {k: f"json_extract_string(j, {json_path(k)})" for k in keys}
    select = _select_list(contract, set(keys), values)
    scan = FileScan(result, "", index)
    rejects, reject_scans = _rejects_tables(scan)
    stored = _json_lines(
        file,
        "store_rejects=true",
        f"rejects_table={sql_str(rejects)}",
        f"rejects_scan={sql_str(reject_scans)}",
    )
    reasons = _json_record_reasons(contract, found)
    scan.raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, n AS _source_row, "
        f"{reasons} FROM {stored} AND {_JSON_OBJECT}"
    )
    return scan


def _json_record_reasons(contract: Contract, found: dict[str, set[str]]) -> str:
    """SQL: ``_source_reasons`` of a JSON line: its values of a kind their column cannot take,
    in columns where other records' values fit (a column none of whose values fit is a
    file-level problem: :func:`_check_types`).

    Only for text and boolean columns: typing turns any other column's misfit (a number where
    a timestamp is declared, ``true`` where an integer is) into a ``type_error`` on its own,
    while a number's text would pass as a string, and ``1`` as a boolean.
    """
    checks = []
    for col in contract.columns:
        misfits = json_mismatched_kinds(col, found[col.name])
        if not misfits or col.type not in ("string", "boolean"):
            continue
        kind = f"json_type(j, {json_path(col.header)})"
        reasons = " ".join(
            f"WHEN {sql_str(k)} THEN {_kind_reason(col, k)}" for k in sorted(misfits)
        )
        checks.append(f"CASE {kind} {reasons} END")
    if not checks:
        return NO_SOURCE_REASONS
    listed = f"list_filter([{', '.join(checks)}], x -> x IS NOT NULL)"
    return f"CASE WHEN len({listed}) > 0 THEN {listed} END AS _source_reasons"


def _kind_reason(col: Column, kind: str) -> str:
    reason = (
        f"a JSON {KIND_NAMES[kind]} where the contract declares {col.type}: "
        "fix the export to write the declared type"
    )
    return f"{{'check': 'type_error', 'column': {sql_str(col.name)}, 'reason': {sql_str(reason)}}}"


def _check_types(contract: Contract, file: LandingFile, problems: list[TypeProblem]) -> None:
    """Raise :class:`SchemaDriftError` for the ``problems`` the schema policy does not let
    ingestion parse as text."""
    policy = contract.schema_policy
    refused = [
        p
        for p in problems
        if (policy.text_columns if p.text else policy.mismatched_types) == "fail"
    ]
    if refused:
        raise SchemaDriftError(drift_message(contract, file.relative, refused))


def _json_invalid_lines(
    source: duckdb.DuckDBPyConnection, scan: FileScan, protect_text: ProtectText
) -> pa.Table:
    """The lines the reader rejected, and the lines that are no JSON object, each numbered
    by its line in the file (the reader's numbering ``n`` shifted past the rejected lines)."""
    rejects, _ = _rejects_tables(scan)
    records = source.execute(
        f"WITH rejected AS (SELECT line AS _source_row, {_LINE_REJECT_REASON} AS error, "
        f"first(csv_line) AS text FROM {rejects} GROUP BY line), "
        f"gaps AS ({_GAPS} FROM rejected) "
        f"SELECT ? AS _source_file, _source_row, error, {protect_text('text')} AS raw_text, "
        "true AS skipped FROM rejected "
        "UNION ALL "
        "SELECT ?, n + (SELECT count(*) FROM gaps WHERE valid_before < n), "
        "CASE WHEN json_valid(j) THEN 'JSON line is not an object' ELSE 'invalid JSON' END, "
        f"{protect_text('j')}, false FROM {_json_lines(scan.read.file)} AND NOT {_JSON_OBJECT} "
        "ORDER BY 2",
        [scan.read.file.relative, scan.read.file.relative],
    ).to_arrow_table()
    _drop_rejects(source, scan)
    return records


def _open_parquet(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    scan = f"read_parquet({sql_str(str(file.path))}, file_row_number=true)"
    try:
        described = source.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise SchemaDriftError(f"{file.relative}: not a readable Parquet file ({exc})") from None
    types = {row[0]: str(row[1]) for row in described if row[0] != "file_row_number"}
    names = list(types)
    result = _check_columns(contract, file, names)
    declared = [c for c in contract.columns if c.header in types]  # by source name
    _check_types(
        contract,
        file,
        [p for c in declared if (p := parquet_problem(contract, c, types[c.header]))],
    )
    values = {n: f"CAST({q(n)} AS VARCHAR)" for n in names}
    values.update({c.header: parquet_text(c, types[c.header], q(c.header)) for c in declared})
    select = _select_list(contract, set(names), values)
    raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"file_row_number + 1 AS _source_row, {NO_SOURCE_REASONS} FROM {scan}"
    )
    return FileScan(result, raw_sql, index)
