"""Find every lake partition holding a subject, and the subject's keys, by walking the graph.

Tables are visited parents first (:mod:`pipelines.lake.subjects`): the subject's rows of
``customers`` give their ``customer_id`` digests, which find their ``orders``, and so on.
Only counts and digests come out; the lake files are read after their hashes are checked.
The lake is a local folder or an object store (a :class:`~pipelines.lake.storage.LakeStorage`,
``lake_store(settings)``): DuckDB reads its objects through httpfs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.contracts import ContractSet, Protection
from pipelines.lake.partitions import (
    Partition,
    as_store,
    partitions,
    verified_data_file,
    verified_quarantine_file,
)
from pipelines.lake.quarantine import register_decrypt_udf
from pipelines.lake.storage import LakeStorage
from pipelines.lake.subject_match import (
    data_value,
    digest,
    load_keys,
    quarantine_value,
    row_condition,
)
from pipelines.lake.subjects import SubjectGraph
from pipelines.protection.keys import KeyRing
from pipelines.sql import q, sql_str


@dataclass(frozen=True)
class PartitionHit:
    """A partition holding the subject: how many of its data and quarantine rows."""

    partition: Partition
    data_rows: int
    quarantine_rows: int


@dataclass
class Located:
    keys: dict[str, set[str]] = field(default_factory=dict)
    hits: list[PartitionHit] = field(default_factory=list)
    ciphertexts: set[str] = field(default_factory=set)
    """Digests of the encrypted values (e-mail, phone) in the subject's rows."""

    def add(self, key: str, digests: set[str]) -> None:
        self.keys.setdefault(key, set()).update(digests)


def connect(keyring: KeyRing, store: LakeStorage | None = None) -> duckdb.DuckDBPyConnection:
    """A connection that decrypts quarantine records and reads ``store`` (httpfs and the S3
    secret for a lake on an object store)."""
    con = duckdb.connect(":memory:")
    register_decrypt_udf(con, keyring)
    if store is not None:
        store.prepare(con)
    return con


def _digests(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {str(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None}


def _scan(
    con: duckdb.DuckDBPyConnection,
    graph: SubjectGraph,
    contracts: ContractSet,
    part: Partition,
    found: Located,
) -> PartitionHit:
    contract = contracts[part.table]
    table = graph.table(part.table)
    assert table is not None
    data = sql_str(str(verified_data_file(part)))
    quarantine = sql_str(str(verified_quarantine_file(part)))
    where = row_condition(contract, table)
    where_q = row_condition(contract, table, quarantine=True)
    for column in table.exports:
        found.add(
            f"{part.table}.{column}",
            _digests(
                con,
                f"SELECT sha256({data_value(contract, column)}) FROM read_parquet({data}) WHERE {where}",
            )
            | _digests(
                con,
                f"SELECT sha256({quarantine_value(contract, column)}) FROM read_parquet({quarantine}) WHERE {where_q}",
            ),
        )
        load_keys(con, found.keys)
    for col in contract.written_columns:
        if col.protection is Protection.ENCRYPT:
            found.ciphertexts |= _digests(
                con, f"SELECT sha256({q(col.lake_name)}) FROM read_parquet({data}) WHERE {where}"
            ) | _digests(
                con,
                f"SELECT sha256({quarantine_value(contract, col.name)}) "
                f"FROM read_parquet({quarantine}) WHERE {where_q}",
            )
    rows = con.execute(f"SELECT count(*) FROM read_parquet({data}) WHERE {where}").fetchone()
    q_rows = con.execute(
        f"SELECT count(*) FROM read_parquet({quarantine}) WHERE {where_q}"
    ).fetchone()
    return PartitionHit(part, int(rows[0]) if rows else 0, int(q_rows[0]) if q_rows else 0)


def locate(
    lake: Path | LakeStorage,
    contracts: ContractSet,
    graph: SubjectGraph,
    subject_token: str,
    keyring: KeyRing,
    known: dict[str, set[str]] | None = None,
) -> Located:
    """The subject's keys and every partition holding a row of theirs (``known`` keys, such as
    the ones the suppression list recorded at erasure, are searched for too)."""
    found = Located()
    found.add(graph.subject_column, {digest(subject_token)})
    for key, digests in (known or {}).items():
        found.add(key, digests)
    store = as_store(lake)
    con = connect(keyring, store)
    try:
        load_keys(con, found.keys)
        for table in graph.tables:
            for part in partitions(store, table.table):
                hit = _scan(con, graph, contracts, part, found)
                if hit.data_rows or hit.quarantine_rows:
                    found.hits.append(hit)
    finally:
        con.close()
    return found
