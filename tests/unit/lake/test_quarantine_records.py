"""Quarantine records: every value the lake holds in clear encrypted under its quarantine
context, and back."""

from __future__ import annotations

import json

import duckdb

from pipelines.ingest.protect import ENCRYPT_UDF, KeyedProtection
from pipelines.lake import quarantine


def test_a_record_round_trips_through_encryption(contracts, keyring) -> None:
    contract = contracts["orders"]
    con = duckdb.connect()
    KeyedProtection(keyring).register(con)
    quarantine.register_decrypt_udf(con, keyring)
    clear = {c.lake_name: f"value of {c.lake_name}" for c in contract.written_columns}
    protected = {c.lake_name for c in contract.written_columns if not quarantine.held_clear(c)}
    clear["order_approved_at"] = None
    con.execute("CREATE TABLE r AS SELECT ?::JSON AS record", [json.dumps(clear)])
    stored = con.execute(
        f"SELECT {quarantine.record_sql(contract, 'record', ENCRYPT_UDF)} FROM r"
    ).fetchone()[0]
    held = json.loads(stored)
    assert all(
        held[name] == clear[name] if name in protected or clear[name] is None else
        held[name].startswith(keyring.encryption.active_id + ":")
        for name in clear
    )  # fmt: skip
    assert "value of order_status" not in stored
    values = quarantine.lake_values_sql(contract, "?::JSON", quarantine.DECRYPT_UDF)
    back = con.execute(
        "SELECT " + ", ".join(f'{sql} AS "{name}"' for name, sql in values.items()),
        [stored] * len(values),
    ).fetchone()
    assert dict(zip(values, back, strict=True)) == clear


def test_a_kept_pii_column_is_encrypted_too(contracts, keyring) -> None:
    """A quasi-identifier kept in clear (``customers.customer_state``) whose value failed its
    check may hold anything (an e-mail address): the quarantine encrypts it like non-PII."""
    contract = contracts["customers"]
    kept = [
        c for c in contract.written_columns if c.pii.value != "none" and quarantine.held_clear(c)
    ]
    assert "customer_state" in [c.name for c in kept]
    con = duckdb.connect()
    KeyedProtection(keyring).register(con)
    clear = {c.lake_name: "canary@example.org" for c in contract.written_columns}
    con.execute("CREATE TABLE r AS SELECT ?::JSON AS record", [json.dumps(clear)])
    stored = con.execute(
        f"SELECT {quarantine.record_sql(contract, 'record', ENCRYPT_UDF)} FROM r"
    ).fetchone()[0]
    held = json.loads(stored)
    for col in kept:
        assert held[col.lake_name].startswith(keyring.encryption.active_id + ":")
    assert all(
        held[c.lake_name] == "canary@example.org"
        for c in contract.written_columns
        if not quarantine.held_clear(c)
    )  # protected columns are taken as the lake holds them (ingestion protected them)
