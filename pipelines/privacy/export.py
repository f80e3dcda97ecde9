"""``pipelines privacy export``: a person's data across the lake and the features (Art. 15).

The rows are found as an erasure finds them (:mod:`~pipelines.privacy.locate`): every lake
partition's data rows of the person, and every feature snapshot row holding one of their
keys. Encrypted columns are decrypted (the only clear values any privacy command shows);
pseudonymized columns stay tokens (one-way; the person's own ids are what they asked with);
quarantined records are counted, not opened (``pipelines reidentify`` reads one, audited).
The request is audited, with the counts, before anything is returned.
"""

from __future__ import annotations

from typing import Any

import duckdb

from pipelines.contracts import ContractSet, Protection
from pipelines.features.paths import features_dir
from pipelines.lake.partitions import verified_data_file
from pipelines.lake.storage import lake_store
from pipelines.lake.subject_match import load_keys, row_condition
from pipelines.lake.subjects import SubjectGraph
from pipelines.privacy.derived import snapshot_files, subject_rows_where
from pipelines.privacy.locate import PartitionHit, connect, locate
from pipelines.privacy.stored_features import pull_releases
from pipelines.protection.encrypt import Encryptor, encryption_context
from pipelines.protection.keys import KeyRing
from pipelines.settings import Settings
from pipelines.sql import sql_str

ACTION = "privacy_export"


def _records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _lake_rows(
    con: duckdb.DuckDBPyConnection,
    hit: PartitionHit,
    contracts: ContractSet,
    graph: SubjectGraph,
    encryptor: Encryptor,
) -> list[dict[str, Any]]:
    contract = contracts[hit.partition.table]
    table = graph.table(hit.partition.table)
    assert table is not None
    data = sql_str(str(verified_data_file(hit.partition)))
    rows = _records(
        con, f"SELECT * FROM read_parquet({data}) WHERE {row_condition(contract, table)}"
    )
    encrypted = [c for c in contract.written_columns if c.protection is Protection.ENCRYPT]
    for row in rows:
        for col in encrypted:
            if row.get(col.lake_name) is not None:
                context = encryption_context(contract.table, col.name)
                row[col.lake_name] = encryptor.decrypt(str(row[col.lake_name]), context)
    return rows


def subject_export(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    graph: SubjectGraph,
    token: str,
) -> dict[str, Any]:
    """The person's rows: ``lake`` per table, ``features`` per snapshot, quarantine counts."""
    store = lake_store(settings)  # a local folder or the object store
    pull_releases(settings)  # feature releases published on the object store, into the cache
    found = locate(store, contracts, graph, token, keyring)
    encryptor = Encryptor(keyring)
    out: dict[str, Any] = {"lake": {}, "features": {}, "quarantined_records": {}}
    con = connect(keyring, store)
    try:
        load_keys(con, found.keys)
        for hit in found.hits:
            table = hit.partition.table
            rows = _lake_rows(con, hit, contracts, graph, encryptor)
            out["lake"].setdefault(table, []).extend(rows)
            if hit.quarantine_rows:
                held = f"{table}/{hit.partition.name}"
                out["quarantined_records"][held] = hit.quarantine_rows
        for path in snapshot_files(features_dir(settings)):
            relation = f"read_parquet({sql_str(str(path))})"
            where = subject_rows_where(con, relation)
            if where is not None:
                rows = _records(con, f"SELECT * FROM {relation} WHERE {where}")
                if rows:
                    out["features"][f"{path.parent.parent.name}/{path.parent.name}"] = rows
    finally:
        con.close()
    return out


def counts(export: dict[str, Any]) -> dict[str, int]:
    return {
        "lake_rows": sum(len(v) for v in export["lake"].values()),
        "feature_rows": sum(len(v) for v in export["features"].values()),
        "quarantined_records": sum(export["quarantined_records"].values()),
    }
