"""Reading landing files into DuckDB as text, with exact provenance and no silent loss.

A reader turns one landing file into a *raw relation*: SQL yielding one VARCHAR column per
contract column plus ``_source_file`` and ``_source_row`` (the 1-based data record number within
the file; NULL for CSV, whose parser does not number records). Reading a file has four steps:

1. :func:`open_file` checks the file's columns against the contract and returns a
   :class:`FileScan` holding the raw relation; nothing is loaded yet.
2. The loader (:mod:`pipelines.ingest.stream`) streams the raw relations of all files, in
   order, through protection and typing into the temp table ``staged`` (so clear text is never
   materialized), counts each file's records and numbers CSV records 1, 2, ... in the order
   the parser produced them.
3. Right after a file's scan, on the connection that ran it, :func:`collect_malformed` takes
   the records the parser could not split into the right columns, with their record number,
   the parser's reason and their text passed through ``protect_text`` (encryption), never in
   clear.
4. :func:`finish_file` checks that the file's rows kept file order in ``staged``, shifts CSV
   record numbers past the malformed records and adds those to the temp table ``malformed``.

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
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.contracts import Contract
from pipelines.ingest.landing import LandingFile


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

    @property
    def records(self) -> int:
        return self.parsed + self.malformed


def sql_str(value: str) -> str:
    """A SQL string literal (for paths and identifiers we control, never for data)."""
    return "'" + value.replace("'", "''") + "'"


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


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

    @property
    def numbered(self) -> bool:
        """Whether the raw relation numbers its records (else the loader counts them)."""
        return self.read.file.format not in ("csv", "csv.gz")


def create_malformed_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE malformed (_source_file VARCHAR, _source_row BIGINT, "
        "error VARCHAR, raw_text VARCHAR)"
    )


def open_file(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    """Check ``file``'s columns against ``contract``; :class:`SchemaDriftError` if they differ
    in a way the contract does not allow."""
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
    if scan.read.file.format in ("csv", "csv.gz"):
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
        if not scan.numbered:
            _shift_past_malformed(con, scan, first)
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
    expected = contract.column_names
    missing = [c for c in expected if c not in seen]
    extra = [c for c in seen if c not in expected]
    policy = contract.schema_policy
    problems = []
    if missing and policy.missing_columns == "fail":
        problems.append(f"missing column(s) {', '.join(missing)}")
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
    parts = []
    for col in contract.column_names:
        if col in present:
            parts.append(f"NULLIF({values[col]}, '') AS {q(col)}")
        else:
            parts.append(f"NULL::VARCHAR AS {q(col)}")
    return ", ".join(parts)


def _csv_header(file: LandingFile) -> list[str]:
    opener = gzip.open if file.format.endswith(".gz") else open
    with opener(file.path, "rt", encoding="utf-8-sig", newline="") as fh:
        line = fh.readline()
    if not line.strip():
        raise SchemaDriftError(f"{file.relative}: empty file or missing header line")
    return next(csv.reader(io.StringIO(line)))


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


def _open_csv(contract: Contract, file: LandingFile, index: int) -> FileScan:
    present = _csv_header(file)
    result = _check_columns(contract, file, present)
    header = tuple(h.strip() for h in present)
    scan = FileScan(result, "", index, header=header)
    rejects, reject_scans = _rejects_tables(scan)
    source = csv_scan(
        [str(file.path)],
        header,
        "store_rejects=true",
        f"rejects_table={sql_str(rejects)}",
        f"rejects_scan={sql_str(reject_scans)}",
    )
    select = csv_select_list(contract, header)
    scan.raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"NULL::BIGINT AS _source_row FROM {source}"
    )
    return scan


def _csv_rejects(
    source: duckdb.DuckDBPyConnection, scan: FileScan, protect_text: ProtectText
) -> pa.Table:
    rejects, reject_scans = _rejects_tables(scan)
    # One record can produce several reject rows (one per problem); keep one per record.
    # DuckDB's reject "line" counts records, the header being line 1.
    records = source.execute(
        "SELECT ? AS _source_file, line - 1 AS _source_row, "
        "string_agg(DISTINCT error_type || ': ' || error_message, '; ') AS error, "
        f"{protect_text('first(csv_line)')} AS raw_text FROM {rejects} GROUP BY line",
        [scan.read.file.relative],
    ).to_arrow_table()
    for table in (rejects, reject_scans):
        source.execute(f"DROP TABLE IF EXISTS {table}")
    return records


def _shift_past_malformed(con: duckdb.DuckDBPyConnection, scan: FileScan, first: int) -> None:
    """The loader numbered the parsed records 1, 2, ...: shift each one past the malformed
    records that precede it in the file so _source_row is the true record number."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gaps AS SELECT _source_row - row_number() OVER "
        "(ORDER BY _source_row) AS valid_before FROM malformed WHERE _source_file = ?",
        [scan.read.file.relative],
    )
    con.execute(
        "UPDATE staged SET _source_row = _source_row + "
        "(SELECT count(*) FROM _gaps WHERE valid_before < staged._source_row) "
        f"WHERE rowid >= {first} AND rowid < {first + scan.read.parsed}"
    )


def _json_lines(file: LandingFile) -> str:
    # Valid JSON never contains raw control characters, so \x1f cannot split a valid line.
    return (
        "(SELECT j, row_number() OVER () AS n FROM "
        f"read_csv({sql_str(str(file.path))}, columns={{'j': 'VARCHAR'}}, header=false, "
        "auto_detect=false, delim=E'\\x1f', quote='', escape='', new_line='\\n', "
        f"strict_mode=false, null_padding=true, {_LINE_LIMITS})) AS lines "
        "WHERE j IS NOT NULL AND trim(j) <> ''"
    )


_JSON_OBJECT = "json_valid(j) AND json_type(j) = 'OBJECT'"


def _open_jsonl(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    lines = _json_lines(file)
    keys_row = source.execute(
        "SELECT list_sort(list_distinct(flatten(list(json_keys(j))))) "
        f"FROM {lines} AND {_JSON_OBJECT}"
    ).fetchone()
    keys = list(keys_row[0] or []) if keys_row else []
    result = _check_columns(contract, file, keys or contract.column_names)
    values = {k: f"json_extract_string(j, {sql_str('$.' + _json_path_key(k))})" for k in keys}
    select = _select_list(contract, set(keys), values)
    raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, n AS _source_row "
        f"FROM {lines} AND {_JSON_OBJECT}"
    )
    return FileScan(result, raw_sql, index)


def _json_invalid_lines(
    source: duckdb.DuckDBPyConnection, scan: FileScan, protect_text: ProtectText
) -> pa.Table:
    return source.execute(
        "SELECT ? AS _source_file, n AS _source_row, "
        f"'INVALID JSON: line is not a JSON object' AS error, {protect_text('j')} AS raw_text "
        f"FROM {_json_lines(scan.read.file)} AND NOT ({_JSON_OBJECT})",
        [scan.read.file.relative],
    ).to_arrow_table()


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _open_parquet(
    source: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, index: int
) -> FileScan:
    scan = f"read_parquet({sql_str(str(file.path))}, file_row_number=true)"
    try:
        described = source.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise SchemaDriftError(f"{file.relative}: not a readable Parquet file ({exc})") from None
    names = [row[0] for row in described if row[0] != "file_row_number"]
    result = _check_columns(contract, file, names)
    values = {n: f"CAST({q(n)} AS VARCHAR)" for n in names}
    select = _select_list(contract, set(names), values)
    raw_sql = (
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"file_row_number + 1 AS _source_row FROM {scan}"
    )
    return FileScan(result, raw_sql, index)
