"""Surrogate row keys and exact duplicates, for tables without a natural key.

A contract with ``primary_key: []`` declares ``row_key`` (:class:`~pipelines.contracts.RowKey`).
After the key checks, every staged row that passed them gets ``_row_key``: the first 32 hex
digits of the SHA-256 of its lake values (protected as they are written, so no clear PII is
hashed) and its occurrence number among identical rows in file order, ``<fingerprint>-<n>``.
The same files give the same keys on every run (a rotated encryption key changes the
ciphertexts and so the fingerprints of rows that hold them).

Rows whose occurrence number is above 1 are *exact duplicates*; ``row_key.duplicates`` keeps
them (their keys differ by the number), quarantines them (``exact_duplicate``, naming the
first occurrence, which is loaded) or drops them: they are deleted from ``staged`` and
counted, and the manifest reports them as ``dropped`` (read = loaded + quarantined +
dropped).
"""

from __future__ import annotations

import duckdb

from pipelines.contracts import ROW_KEY_COLUMN, Contract
from pipelines.ingest.transform import lake_struct
from pipelines.sql import q, sql_str

EXACT_DUPLICATE = "exact_duplicate"


def apply_row_key(con: duckdb.DuckDBPyConnection, contract: Contract) -> int:
    """Add ``_row_key`` to ``staged`` and apply the exact-duplicate policy; rows dropped.

    Does nothing (returns 0) for a contract with a primary key.
    """
    if contract.row_key is None:
        return 0
    key = q(ROW_KEY_COLUMN)
    con.execute(f"ALTER TABLE staged ADD COLUMN {key} VARCHAR")
    # Most rows are unique: key them all as first occurrences in one pass without a join,
    # then number the occurrences of the few fingerprints that repeat.
    fingerprint = (
        f"left(sha256(CAST(to_json({{{lake_struct(contract, 'staged')}}}) AS VARCHAR)), 32)"
    )
    con.execute(f"UPDATE staged SET {key} = {fingerprint} || '-1' WHERE _reasons IS NULL")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _row_keys AS SELECT id, "
        "left(row_key, 32) || '-' || row_number() OVER w AS row_key, "
        "row_number() OVER w AS occurrence, min(id) OVER w AS first "
        f"FROM (SELECT rowid AS id, {key} AS row_key FROM staged WHERE {key} IN "
        f"(SELECT {key} FROM staged WHERE {key} IS NOT NULL GROUP BY {key} "
        "HAVING count(*) > 1)) "
        "WINDOW w AS (PARTITION BY row_key ORDER BY id)"
    )
    con.execute(
        f"UPDATE staged SET {key} = k.row_key FROM _row_keys AS k "
        "WHERE staged.rowid = k.id AND k.occurrence > 1"
    )
    policy = contract.row_key.duplicates
    if policy == "quarantine":
        con.execute(
            "UPDATE staged SET _reasons = [{'check': "
            f"{sql_str(EXACT_DUPLICATE)}, 'column': NULL, 'reason': 'exact duplicate of ' || "
            "f._source_file || ' row ' || f._source_row || ' (loaded)'}], "
            f"_record = to_json({{{lake_struct(contract, 'staged', text=True)}}}), "
            f"{q(ROW_KEY_COLUMN)} = NULL "
            "FROM _row_keys AS k JOIN staged AS f ON f.rowid = k.first "
            "WHERE staged.rowid = k.id AND k.occurrence > 1"
        )
    if policy != "drop":
        return 0
    dropped = con.execute("SELECT count(*) FROM _row_keys WHERE occurrence > 1").fetchone()
    con.execute("DELETE FROM staged WHERE rowid IN (SELECT id FROM _row_keys WHERE occurrence > 1)")
    return int(dropped[0]) if dropped else 0
