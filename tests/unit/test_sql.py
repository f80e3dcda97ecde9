"""The one SQL quoting helper: what it quotes reads back as itself in DuckDB."""

from __future__ import annotations

import duckdb

from pipelines.sql import json_path, q, sql_literal, sql_str

AWKWARD = ["plain", "O'Brien", 'say "hi"', "semi; DROP TABLE x; --", "''", "$.a.b", "ção"]


def test_a_literal_and_an_identifier_read_back_as_themselves() -> None:
    con = duckdb.connect()
    for text in AWKWARD:
        assert con.execute(f"SELECT {sql_str(text)}").fetchone() == (text,)
        con.execute(f"CREATE OR REPLACE TABLE {q(text)} AS SELECT 1 AS {q(text)}")
        assert con.execute(f"SELECT {q(text)} FROM {q(text)}").fetchone() == (1,)


def test_a_json_path_names_one_key_whatever_it_holds() -> None:
    con = duckdb.connect()
    for key in AWKWARD:
        found = con.execute(
            f"SELECT json_extract_string(?::JSON, {json_path(key)})", [f'{{"{_js(key)}": "v"}}']
        ).fetchone()
        assert found == ("v",), key


def _js(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def test_a_configured_value_reads_back_as_itself() -> None:
    con = duckdb.connect()
    for value in [True, False, 0, -7, 2**40, 0.5, -1.25e-5, *AWKWARD]:
        assert con.execute(f"SELECT {sql_literal(value)}").fetchone() == (value,), value
    # a boolean is not taken for the number it also is
    assert con.execute(f"SELECT typeof({sql_literal(True)})").fetchone() == ("BOOLEAN",)
