"""Typing parses a value as it is and trims it only if that fails, and takes a shortcut for
canonical numbers: the same result as always trimming first and matching the strict pattern,
for every contract type and every kind of surrounding space."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from pipelines.contracts import Column
from pipelines.ingest.transform import typed_expr

CORES = [
    "12", "+12", "-12", "0", "007", "12.0", "12.000", "12.5", "2.5", "-0.01", "1.234", "1e3",
    "99999999999999999999", "12,50", "BRL 12", "", "abc", "true", "false", "t", "0.5",
    "2018-01-01", "2018-01-01 10:00:00", "2018-01-01T10:00:00", "2018-02-30", "2018-01-01 25:00",
    "01/02/2018", "nan", "inf",
    # DuckDB casts these leniently; only the canonical ones may take the round-trip shortcut
    "-0", "12.50", "0.50", "-1.00", "1_000", "0x10", "0b11", "1.", ".5", "1.5e1",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1234567890.12",
    "12345678901.00",
]  # fmt: skip
PADS = ["", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", " \t", "\u00a0 "]
TYPES = ["integer", "decimal(12,2)", "decimal(10,0)", "double", "boolean", "date", "timestamp"]


def _always_trimmed(kind: str, col: Column, raw: str) -> str:
    """How typing was written before: trim first, then parse."""
    if kind == "integer":
        return f"TRY_CAST(regexp_extract(trim({raw}), '^([+-]?[0-9]+)(\\.0+)?$', 1) AS BIGINT)"
    if kind.startswith("decimal"):
        frac = "(\\.[0-9]{1,2}0*)?" if kind == "decimal(12,2)" else "(\\.0+)?"
        return (
            f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]+{frac}') "
            f"THEN TRY_CAST(trim({raw}) AS {col.duckdb_type}) END"
        )
    if kind == "date":  # a date, or a date at midnight; never a time or offset dropped
        pad = "[\\s\\p{Z}]*"  # any surrounding white space, as the cast itself allows
        plain = f"{pad}[0-9]+-[0-9]{{1,2}}-[0-9]{{1,2}}([ T]00:00(:00(\\.0+)?)?)?{pad}"
        return (
            f"CASE WHEN regexp_full_match({raw}, '{plain}') THEN TRY_CAST(trim({raw}) AS DATE) END"
        )
    return f"TRY_CAST(trim({raw}) AS {col.duckdb_type})"


@pytest.mark.parametrize("kind", TYPES)
def test_parsing_untrimmed_first_changes_no_result(kind: str) -> None:
    col = Column(name="v", type=kind, description="a value")
    values = [None] + [
        left + core + right for core in CORES for left, right in itertools.product(PADS, PADS)
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    con.execute(
        f"CREATE TABLE parsed AS SELECT v, {typed_expr(col, 'v')} AS new, "
        f"{_always_trimmed(kind, col, 'v')} AS old FROM t"
    )
    differ = con.execute("SELECT v, new, old FROM parsed WHERE new IS DISTINCT FROM old")
    assert differ.fetchall() == []
    parsed = con.execute("SELECT count(new) FROM parsed").fetchone()
    assert parsed is not None and parsed[0] > len(PADS)  # some values do parse


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-01-01", "2018-01-01"),
        (" 2018-01-01 ", "2018-01-01"),
        ("2018-01-01 00:00:00", "2018-01-01"),
        ("2018-01-01T00:00", "2018-01-01"),
        ("2018-01-01 10:00:00", None),  # a time would be dropped
        ("2018-01-01 23:30-03:00", None),  # 2018-01-02 in UTC: the date itself would be wrong
        ("2018-01-01 00:00:00-03:00", None),
        ("2018-02-30", None),
    ],
)
def test_a_date_never_drops_a_time_or_an_offset(value: str, expected: str | None) -> None:
    col = Column(name="v", type="date", description="a date")
    found = duckdb.execute(f"SELECT CAST({typed_expr(col, '$v')} AS VARCHAR)", {"v": value})
    assert found.fetchone() == (expected,)
