"""Quarantine records: every non-PII value encrypted under its quarantine context, and back."""

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
    pii = {c.lake_name for c in contract.written_columns if c.pii.value != "none"}
    clear["order_approved_at"] = None
    con.execute("CREATE TABLE r AS SELECT ?::JSON AS record", [json.dumps(clear)])
    stored = con.execute(
        f"SELECT {quarantine.record_sql(contract, 'record', ENCRYPT_UDF)} FROM r"
    ).fetchone()[0]
    held = json.loads(stored)
    assert all(
        held[name] == clear[name] if name in pii or clear[name] is None else
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
