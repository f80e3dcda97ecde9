"""What a sample file says about its columns: types, gaps, uniqueness, key candidates and a
PII proposal per column (:mod:`.pii`). Only counts, shares, types and names leave here, and
the minimum and maximum of numeric columns without personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.contracts import PiiClass, Protection, _identifier
from pipelines.protection.detect import DEFAULT_REGION
from pipelines.scaffold.pii import DETECT_VALUES, ID_NAME, classify
from pipelines.sql import q, sql_str

SAMPLE_ROWS = 200_000
"""Rows read from the sample file (types, missing values, uniqueness)."""

_TYPES = {
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "DOUBLE": "double",
    "FLOAT": "double",
}
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}


class ScaffoldError(ValueError):
    """The sample file cannot be read or described."""


@dataclass
class ColumnProfile:
    """What the sample says about one column (no values)."""

    header: str
    name: str
    duckdb_type: str
    type: str
    rows: int
    missing: int
    distinct: int
    pii: PiiClass = PiiClass.NONE
    protection: Protection = Protection.KEEP
    generalize: str | None = None
    evidence: str = "no personal data found"
    minimum: Any = None
    maximum: Any = None

    @property
    def uniqueness(self) -> float:
        present = self.rows - self.missing
        return self.distinct / present if present else 0.0


@dataclass
class Profile:
    """The sample file, described."""

    path: Path
    rows: int
    columns: list[ColumnProfile]
    keys: list[tuple[list[str], float]] = field(default_factory=list)  # candidates, uniqueness
    region: str = DEFAULT_REGION

    @property
    def primary_key(self) -> list[str]:
        exact = [cols for cols, share in self.keys if share == 1.0]
        return exact[0] if exact else []


def _reader(path: Path) -> str:
    name = path.name.lower()
    literal = sql_str(str(path))
    if name.endswith((".csv", ".csv.gz")):
        return f"read_csv({literal}, header=true, all_varchar=true)"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".json")):
        return f"read_json({literal}, format='newline_delimited')"
    if name.endswith(".parquet"):
        return f"read_parquet({literal})"
    raise ScaffoldError(
        f"{path}: unknown format; give a .csv, .csv.gz, .jsonl, .jsonl.gz or .parquet file"
    )


def contract_type(duck: str, name: str) -> str:
    """The contract type for a DuckDB type; identifiers stay text (``13085.0`` is an id)."""
    if ID_NAME.search(name) and duck not in ("DATE", "TIMESTAMP"):
        return "string"
    if duck in _INTEGERS:
        return "integer"
    if duck.startswith("DECIMAL"):
        return "decimal" + duck[len("DECIMAL") :].replace(" ", "")
    return _TYPES.get(duck, "string")


def profile(path: Path, region: str = DEFAULT_REGION, sample_rows: int = SAMPLE_ROWS) -> Profile:
    """Read up to ``sample_rows`` rows of ``path`` and describe every column."""
    if not path.is_file():
        raise ScaffoldError(f"{path}: no such file")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE sample AS SELECT * FROM {_reader(path)} LIMIT {sample_rows}")
    except duckdb.Error as exc:
        raise ScaffoldError(
            f"{path}: DuckDB could not read it ({type(exc).__name__}); check its format"
        ) from None
    described = [
        (header, _text_type(con, header) if duck == "VARCHAR" else duck)
        for header, duck, *_ in con.execute("DESCRIBE sample").fetchall()
    ]
    rows = int(con.execute("SELECT count(*) FROM sample").fetchone()[0])  # type: ignore[index]
    columns = [_column(con, header, duck, rows, region) for header, duck in described]
    result = Profile(path, rows, columns, region=region)
    result.keys = _key_candidates(con, columns, rows)
    con.close()
    return result


_TEXT_TYPES = [  # the first type every present value of a text column parses as
    # a leading zero ('01310') is a code, not a number: kept as text
    ("BIGINT", "regexp_full_match(trim(v), '[+-]?(0|[1-9][0-9]{0,17})')"),
    ("DOUBLE", "regexp_full_match(trim(v), '[+-]?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?')"),
    ("BOOLEAN", "lower(trim(v)) IN ('true', 'false')"),
    ("DATE", "regexp_full_match(trim(v), '[0-9]{4}-[0-9]{2}-[0-9]{2}')"),
    ("TIMESTAMP", "regexp_full_match(trim(v), '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+')"),
]


def _text_type(con: duckdb.DuckDBPyConnection, header: str) -> str:
    """The narrowest type all present values of a text column parse as (else VARCHAR)."""
    col = q(header)
    tests = ", ".join(f"bool_and({test})" for _, test in _TEXT_TYPES)
    row = con.execute(
        f"SELECT count(v), {tests} FROM (SELECT {col} AS v FROM sample) WHERE v IS NOT NULL"
        " AND trim(v) <> ''"
    ).fetchone()
    if row is None or not row[0]:
        return "VARCHAR"
    for (duck, _), ok in zip(_TEXT_TYPES, row[1:], strict=True):
        if ok:
            return duck
    return "VARCHAR"


def _column(
    con: duckdb.DuckDBPyConnection, header: str, duck: str, rows: int, region: str
) -> ColumnProfile:
    name = _identifier(header)
    col = q(header)
    missing, distinct = con.execute(
        f"SELECT count(*) - count({col}), count(DISTINCT {col}) FROM sample"
    ).fetchone()  # type: ignore[misc]
    prof = ColumnProfile(header, name, duck, contract_type(duck, name), rows, missing, distinct)
    values = None
    if duck == "VARCHAR":
        values = [
            str(v)
            for (v,) in con.execute(
                f"SELECT DISTINCT {col} FROM sample WHERE {col} IS NOT NULL LIMIT {DETECT_VALUES}"
            ).fetchall()
        ]
    proposal = classify(name, prof.type, values, region)
    prof.pii, prof.protection = proposal.pii, proposal.protection
    prof.generalize, prof.evidence = proposal.generalize, proposal.evidence
    numeric = prof.type in ("integer", "double") or prof.type.startswith("decimal")
    if numeric and prof.pii is PiiClass.NONE:
        prof.minimum, prof.maximum = con.execute(
            f"SELECT min({col}), max({col}) FROM sample"
        ).fetchone()  # type: ignore[misc]
    return prof


def _key_candidates(
    con: duckdb.DuckDBPyConnection, columns: list[ColumnProfile], rows: int
) -> list[tuple[list[str], float]]:
    """Single columns, then pairs, without missing values, by measured uniqueness (best
    first, at most five); a pair only when no single column is unique."""
    if not rows:
        return []
    complete = [c for c in columns if c.missing == 0]
    singles = sorted((([c.name], c.distinct / rows) for c in complete), key=lambda k: -k[1])
    found = [k for k in singles if k[1] >= 0.5][:5]
    if any(share == 1.0 for _, share in found):
        return found
    by_name = {c.name: c for c in complete}
    top = [c.name for c in sorted(complete, key=lambda c: -c.distinct)[:6]]
    pairs = []
    for i, a in enumerate(top):
        for b in top[i + 1 :]:
            (n,) = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {q(by_name[a].header)}, "
                f"{q(by_name[b].header)} FROM sample)"
            ).fetchone()  # type: ignore[misc]
            pairs.append(([a, b], n / rows))
    pairs.sort(key=lambda k: -k[1])
    return (pairs[:3] + found)[:5]
