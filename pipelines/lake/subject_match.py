"""SQL that recognises a subject's rows, by the SHA-256 of their key values.

A subject's keys are kept as ``sha256`` hex digests of the values as the lake holds them (a
token for a pseudonymized column, the value for an order id), never the values: the
suppression list and the erasure certificate hold digests only. DuckDB computes
``sha256(value)`` itself, so matching a lake file, a quarantine record, a feature snapshot or
a landing file is one ``IN`` against the temporary table ``_subject_keys(key, h)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import duckdb

from pipelines.contracts import Contract, PiiClass
from pipelines.lake.quarantine import DECRYPT_UDF
from pipelines.lake.subjects import SubjectTable
from pipelines.protection.encrypt import quarantine_context
from pipelines.sql import json_path, q, sql_str

KEYS_TABLE = "_subject_keys"


def digest(value: str) -> str:
    """The hex SHA-256 of ``value`` (what DuckDB's ``sha256`` returns)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def load_keys(con: duckdb.DuckDBPyConnection, keys: Mapping[str, Iterable[str]]) -> None:
    """(Re)create ``_subject_keys`` on ``con`` holding ``keys`` (key -> digests)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {KEYS_TABLE} (key VARCHAR, h VARCHAR)")
    rows = [(key, h) for key, digests in keys.items() for h in digests]
    if rows:
        con.executemany(f"INSERT INTO {KEYS_TABLE} VALUES (?, ?)", rows)


def in_keys(expr: str, key: str) -> str:
    return f"(sha256({expr}) IN (SELECT h FROM {KEYS_TABLE} WHERE key = {sql_str(key)}))"


def in_any_key(expr: str) -> str:
    return f"(sha256({expr}) IN (SELECT h FROM {KEYS_TABLE}))"


def data_value(contract: Contract, column: str) -> str:
    """A lake data file's value of ``column`` as text."""
    return f"CAST({q(contract.column(column).lake_name)} AS VARCHAR)"


def quarantine_value(contract: Contract, column: str) -> str:
    """A quarantine record's value of ``column`` in its lake form: PII columns are stored as
    the lake holds them, the others encrypted (decrypted here, never written)."""
    col = contract.column(column)
    value = f"json_extract_string(record, {json_path(col.lake_name)})"
    if col.pii is PiiClass.NONE:
        context = quarantine_context(contract.table, col.name)
        return f"{DECRYPT_UDF}({value}, {sql_str(context)})"
    return value


def row_condition(contract: Contract, table: SubjectTable, quarantine: bool = False) -> str:
    """True for the rows of ``table`` that belong to the subject."""
    value = quarantine_value if quarantine else data_value
    terms = [in_keys(value(contract, m.column), m.key) for m in table.matches]
    terms += [in_keys(value(contract, c), f"{table.table}.{c}") for c in table.exports]
    return "(" + " OR ".join(terms) + ")"
