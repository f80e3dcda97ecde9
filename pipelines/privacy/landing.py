"""Erasure in landing files still retained: the subject's records removed from each file.

Landing files hold clear values, so a record is matched on the token its key columns would
get at ingestion (the pseudonymization key the subject's token was made with) or on the
value itself for a column kept in clear (``order_id``), against the same key digests as the
lake. CSV (plain or gzip) and Parquet files are rewritten in place (a new file renamed over
the old one); a file DuckDB cannot read strictly, or of another format, is left as it is and
reported as ``not_rewritten`` (erase it by hand: a lenient rewrite could drop other records).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.contracts import Contract, ContractSet, Protection
from pipelines.hashing import file_sha256
from pipelines.ingest.landing import LandingFile, find_landing_files
from pipelines.lake.interval import Interval
from pipelines.lake.subject_match import in_keys
from pipelines.lake.subjects import SubjectGraph, SubjectTable
from pipelines.protection.pseudonymize import Pseudonymizer, register_duckdb_udf
from pipelines.sql import q, sql_str

ALL_TIME = Interval.parse("1900-01-01", "2200-01-01")
TOKEN_UDF = "privacy_token"
_READERS = {
    "csv": "read_csv({}, all_varchar = true, header = true, strict_mode = true)",
    "csv.gz": "read_csv({}, all_varchar = true, header = true, strict_mode = true)",
    "parquet": "read_parquet({})",
}
_WRITERS = {
    "csv": "(FORMAT csv, HEADER true)",
    "csv.gz": "(FORMAT csv, HEADER true, COMPRESSION gzip)",
    "parquet": "(FORMAT parquet)",
}


@dataclass(frozen=True)
class LandingRewrite:
    file: str  # relative to the landing root
    old_sha256: str
    new_sha256: str | None
    records_removed: int
    not_rewritten: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def register_token_udf(con: duckdb.DuckDBPyConnection, pseudonymizer: Pseudonymizer) -> None:
    register_duckdb_udf(con, pseudonymizer, TOKEN_UDF)


def _value(contract: Contract, column: str) -> str:
    col = contract.column(column)
    raw = f"CAST({q(col.name)} AS VARCHAR)"
    return f"{TOKEN_UDF}({raw})" if col.protection is Protection.PSEUDONYMIZE else raw


def landing_condition(contract: Contract, table: SubjectTable) -> str:
    terms = [in_keys(_value(contract, m.column), m.key) for m in table.matches]
    terms += [in_keys(_value(contract, c), f"{table.table}.{c}") for c in table.exports]
    return "(" + " OR ".join(terms) + ")"


def _count(con: duckdb.DuckDBPyConnection, relation: str, where: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {relation} WHERE {where}").fetchone()
    return int(row[0]) if row else 0


def _rewrite(
    con: duckdb.DuckDBPyConnection, file: LandingFile, contract: Contract, table: SubjectTable
) -> LandingRewrite | None:
    old = file_sha256(file.path)
    reader = _READERS.get(file.format)
    if reader is None:
        return LandingRewrite(file.relative, old, None, 0, f"format {file.format}")
    relation = reader.format(sql_str(str(file.path)))
    where = landing_condition(contract, table)
    try:
        found = _count(con, relation, where)
    except duckdb.Error as exc:
        return LandingRewrite(file.relative, old, None, 0, type(exc).__name__)
    if not found:
        return None
    tmp = file.path.with_name(f".{file.path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con.execute(
            f"COPY (SELECT * FROM {relation} WHERE NOT coalesce({where}, false)) "
            f"TO {sql_str(str(tmp))} {_WRITERS[file.format]}"
        )
        os.replace(tmp, file.path)
    finally:
        tmp.unlink(missing_ok=True)
    return LandingRewrite(file.relative, old, file_sha256(file.path), found)


def rewrite_landing(
    con: duckdb.DuckDBPyConnection, landing: Path, contracts: ContractSet, graph: SubjectGraph
) -> list[LandingRewrite]:
    """Rewrite every retained landing file of a subject table holding the subject."""
    if not landing.is_dir():
        return []
    done = []
    for table in graph.tables:
        contract = contracts[table.table]
        for file in find_landing_files(landing, contract, ALL_TIME):
            result = _rewrite(con, file, contract, table)
            if result is not None:
                done.append(result)
    return done


def landing_hits(
    con: duckdb.DuckDBPyConnection, landing: Path, contracts: ContractSet, graph: SubjectGraph
) -> list[str]:
    """Landing files still holding the subject (for verification)."""
    hits: list[str] = []
    if not landing.is_dir():
        return hits
    for table in graph.tables:
        contract = contracts[table.table]
        where = landing_condition(contract, table)
        for file in find_landing_files(landing, contract, ALL_TIME):
            reader = _READERS.get(file.format)
            if reader is None:
                continue
            try:
                if _count(con, reader.format(sql_str(str(file.path))), where):
                    hits.append(file.relative)
            except duckdb.Error:
                hits.append(f"{file.relative} (unreadable: check by hand)")
    return hits
