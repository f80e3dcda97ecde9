"""Reading landing files into DuckDB as text, with exact provenance and no silent loss.

A reader turns one landing file into a *raw relation*: SQL yielding one VARCHAR column per
contract column plus ``_source_file`` and ``_source_row`` (the 1-based data record number within
the file). It hands that SQL to a ``load`` callback, which streams it through typing and
protection (so clear text is never materialized). Records the parser cannot split into the
right columns go to the temp table ``malformed`` with their record number, the parser's reason
and their text passed through ``protect_text`` (encryption), never in clear.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

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


Load = Callable[[str], int]
"""Streams a raw relation (SQL) into the staged table; returns the number of records."""

ProtectText = Callable[[str], str]
"""Wraps a SQL text expression so that its value is protected (encrypted) before storage."""


def create_malformed_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE malformed (_source_file VARCHAR, _source_row BIGINT, "
        "error VARCHAR, raw_text VARCHAR)"
    )


def read_file(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    file: LandingFile,
    load: Load,
    protect_text: ProtectText,
) -> FileRead:
    """Stream one landing file through ``load``; record unparseable records in ``malformed``."""
    if file.format in ("csv", "csv.gz"):
        return _read_csv(con, contract, file, load, protect_text)
    if file.format in ("jsonl", "jsonl.gz"):
        return _read_jsonl(con, contract, file, load, protect_text)
    if file.format == "parquet":
        return _read_parquet(con, contract, file, load)
    raise ValueError(f"{file.relative}: unsupported format {file.format!r}")


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


def _select_list(contract: Contract, present: set[str], source: dict[str, str]) -> str:
    parts = []
    for col in contract.column_names:
        if col in present:
            parts.append(f"NULLIF({source[col]}, '') AS {q(col)}")
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


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    file: LandingFile,
    load: Load,
    protect_text: ProtectText,
) -> FileRead:
    header = _csv_header(file)
    result = _check_columns(contract, file, header)
    header = [h.strip() for h in header]
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    source = {h: q(h) for h in header}
    scan = (
        f"read_csv({sql_str(str(file.path))}, header=true, auto_detect=false, columns={columns}, "
        "delim=',', quote='\"', escape='\"', strict_mode=true, store_rejects=true, "
        "rejects_table='_rejects', rejects_scan='_reject_scans', max_line_size=10000000)"
    )
    select = _select_list(contract, set(header), source)
    first = _staged_rows(con)
    result.parsed = load(
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"NULL::BIGINT AS _source_row FROM {scan}"
    )
    # One record can produce several reject rows (one per problem); keep one per record.
    # DuckDB's reject "line" counts records, the header being line 1.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _file_rejects AS SELECT line - 1 AS record, "
        "string_agg(DISTINCT error_type || ': ' || error_message, '; ') AS error, "
        f"{protect_text('first(csv_line)')} AS raw_text FROM _rejects GROUP BY line"
    )
    con.execute("DROP TABLE IF EXISTS _rejects")
    con.execute("DROP TABLE IF EXISTS _reject_scans")
    rejected = con.execute("SELECT count(*) FROM _file_rejects").fetchone()
    result.malformed = int(rejected[0]) if rejected else 0
    # Rows are stored in file order (preserve_insertion_order), so a row's position in the
    # file is its rowid offset. Parsed rows skip rejected records: shift each one past the
    # rejected records that precede it so _source_row is the true record number.
    position = f"(staged.rowid - {first} + 1)"
    if result.malformed:
        con.execute(
            "INSERT INTO malformed SELECT ?, record, error, raw_text FROM _file_rejects",
            [file.relative],
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _gaps AS "
            "SELECT record - row_number() OVER (ORDER BY record) AS valid_before FROM _file_rejects"
        )
        position = f"{position} + (SELECT count(*) FROM _gaps WHERE valid_before < {position})"
    con.execute(f"UPDATE staged SET _source_row = {position} WHERE rowid >= {first}")
    return result


def _staged_rows(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM staged").fetchone()
    return int(row[0]) if row else 0


def _read_jsonl(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    file: LandingFile,
    load: Load,
    protect_text: ProtectText,
) -> FileRead:
    # Valid JSON never contains raw control characters, so \x1f cannot split a valid line.
    lines = (
        "(SELECT j, row_number() OVER () AS n FROM "
        f"read_csv({sql_str(str(file.path))}, columns={{'j': 'VARCHAR'}}, header=false, "
        "auto_detect=false, delim=E'\\x1f', quote='', escape='', new_line='\\n', "
        "strict_mode=false, null_padding=true, max_line_size=10000000)) AS lines "
        "WHERE j IS NOT NULL AND trim(j) <> ''"
    )
    valid = "json_valid(j) AND json_type(j) = 'OBJECT'"
    keys_row = con.execute(
        f"SELECT list_sort(list_distinct(flatten(list(json_keys(j))))) FROM {lines} AND {valid}"
    ).fetchone()
    keys = list(keys_row[0] or []) if keys_row else []
    result = _check_columns(contract, file, keys or contract.column_names)
    source = {k: f"json_extract_string(j, {sql_str('$.' + _json_path_key(k))})" for k in keys}
    select = _select_list(contract, set(keys), source)
    result.parsed = load(
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, n AS _source_row "
        f"FROM {lines} AND {valid}"
    )
    inserted = con.execute(
        f"INSERT INTO malformed SELECT ?, n, 'INVALID JSON: line is not a JSON object', "
        f"{protect_text('j')} FROM {lines} AND NOT ({valid})",
        [file.relative],
    ).fetchone()
    result.malformed = int(inserted[0]) if inserted else 0
    return result


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _read_parquet(
    con: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile, load: Load
) -> FileRead:
    scan = f"read_parquet({sql_str(str(file.path))}, file_row_number=true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise SchemaDriftError(f"{file.relative}: not a readable Parquet file ({exc})") from None
    names = [row[0] for row in described if row[0] != "file_row_number"]
    result = _check_columns(contract, file, names)
    source = {n: f"CAST({q(n)} AS VARCHAR)" for n in names}
    select = _select_list(contract, set(names), source)
    result.parsed = load(
        f"SELECT {select}, {sql_str(file.relative)} AS _source_file, "
        f"file_row_number + 1 AS _source_row FROM {scan}"
    )
    return result
