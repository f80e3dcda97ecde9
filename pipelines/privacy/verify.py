"""``pipelines privacy verify-erasure``: prove a subject is absent from every artifact.

Searched for: every key digest the erasure recorded on the suppression list (tokens of the
person and of their order-level customer ids, their order ids, the digests of their
ciphertexts), plus the token itself:

* every lake partition of every table: any text column of the data file holding one of
  them, and the quarantine rows matched like the erasure matches them (and their encrypted
  columns); on an object store (``lake_url``) the partitions there, and also every data and
  quarantine object of a table that no manifest names (superseded versions, unfinished
  writes; locally, a crashed run's staging folders);
* every feature snapshot and every warehouse table: any text column (on an object store,
  also every Parquet object under ``_features/``);
* the retained landing files (their key columns pseudonymized on the fly);
* the feature snapshots whose rebuild failed during the erasure (its certificate lists them)
  and that still hold that version: aggregates keeping the person's contribution;
* and the subject must be on the suppression list, so a re-run cannot bring them back.

The result names artifacts and counts only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from pipelines.contracts import ContractSet, Protection
from pipelines.features.paths import features_dir
from pipelines.features.stored import PREFIX as FEATURES_PREFIX
from pipelines.hashing import file_sha256
from pipelines.ingest.landing import local_landing
from pipelines.lake.partitions import partitions, verified_data_file, verified_quarantine_file
from pipelines.lake.storage import LakeStorage, lake_store
from pipelines.lake.stored import unreferenced
from pipelines.lake.subject_match import (
    digest,
    in_any_key,
    load_keys,
    quarantine_value,
    row_condition,
)
from pipelines.lake.subjects import SubjectGraph
from pipelines.lake.suppression import read_list, suppression_state
from pipelines.privacy.derived import count_subject_rows, snapshot_files, warehouse_hits
from pipelines.privacy.landing import landing_hits, register_token_udf
from pipelines.privacy.locate import connect
from pipelines.protection.audit import AuditLog
from pipelines.protection.keys import KeyRing
from pipelines.protection.pseudonymize import Pseudonymizer, key_id_of
from pipelines.settings import Settings
from pipelines.sql import sql_str


@dataclass
class Verification:
    subject: str
    findings: dict[str, int] = field(default_factory=dict)
    suppressed: bool = False
    searched: int = 0

    @property
    def absent(self) -> bool:
        return self.suppressed and not self.findings


def _quarantine_hits(
    con: duckdb.DuckDBPyConnection, contracts: ContractSet, graph: SubjectGraph, table: str,
    uri: str,
) -> int:  # fmt: skip
    contract = contracts[table]
    terms = [
        in_any_key(quarantine_value(contract, c.name))
        for c in contract.written_columns
        if c.protection in (Protection.ENCRYPT, Protection.PSEUDONYMIZE)
    ]
    subject_table = graph.table(table)
    if subject_table is not None:
        terms.append(row_condition(contract, subject_table, quarantine=True))
    if not terms:
        return 0
    relation = f"read_parquet({sql_str(uri)})"
    row = con.execute(f"SELECT count(*) FROM {relation} WHERE {' OR '.join(terms)}").fetchone()
    return int(row[0]) if row else 0


def _unreferenced_hits(
    con: duckdb.DuckDBPyConnection,
    store: LakeStorage,
    contracts: ContractSet,
    graph: SubjectGraph,
    table: str,
) -> tuple[dict[str, int], int]:
    """The subject's rows in ``table``'s objects no manifest names (superseded versions, a
    killed writer's objects): never read by a reader, but they must not hold the person."""
    found, searched = {}, 0
    for rel in unreferenced(store, table):
        name = rel.rsplit("/", 1)[-1]
        if not name.endswith(".parquet"):
            continue
        searched += 1
        uri = store.uri(rel)
        if name.startswith("quarantine"):
            n = _quarantine_hits(con, contracts, graph, table, uri)
        else:
            n = count_subject_rows(con, f"read_parquet({sql_str(uri)})")
        if n:
            found[f"lake:{rel} (unreferenced)"] = n
    return found, searched


def _lake(
    con: duckdb.DuckDBPyConnection,
    store: LakeStorage,
    contracts: ContractSet,
    graph: SubjectGraph,
) -> tuple[dict[str, int], int]:
    found, searched = {}, 0
    for table in contracts.load_order():
        for part in partitions(store, table):
            searched += 2
            data = count_subject_rows(
                con, f"read_parquet({sql_str(str(verified_data_file(part)))})"
            )
            quarantine = str(verified_quarantine_file(part))
            quarantined = _quarantine_hits(con, contracts, graph, table, quarantine)
            if data:
                found[f"lake:{table}/{part.name}/data"] = data
            if quarantined:
                found[f"lake:{table}/{part.name}/quarantine"] = quarantined
        left, n = _unreferenced_hits(con, store, contracts, graph, table)
        found.update(left)
        searched += n
    return found, searched


def _stored_features(con: duckdb.DuckDBPyConnection, store: LakeStorage) -> dict[str, int]:
    """The subject's rows in every Parquet object under ``_features/`` of a lake on an object
    store (published snapshots, superseded ones and anything else kept there)."""
    if not store.versioned:
        return {}
    pattern = sql_str(store.uri(f"{FEATURES_PREFIX}/**/*.parquet"))
    found = {}
    for (uri,) in con.execute(f"SELECT file FROM glob({pattern})").fetchall():
        n = count_subject_rows(con, f"read_parquet({sql_str(str(uri))})")
        if n:
            found[f"features:{str(uri)[len(store.root.rstrip('/')) + 1 :]}"] = n
    return found


def aggregates_kept(settings: Settings, keyring: KeyRing, subject: str) -> dict[str, int]:
    """Feature snapshots an erasure of ``subject`` could not rebuild (its certificate says so)
    and that are still at the version it recorded: they hold the person's contribution."""
    from pipelines.privacy.erase import ACTION

    found: dict[str, int] = {}
    for entry in AuditLog(settings.audit, keyring).entries():
        details = entry.get("details") or {}
        if entry.get("action") != ACTION or "certificate" not in details:
            continue
        cert = json.loads(str(details["certificate"]))
        if cert.get("subject") != subject:
            continue
        for built in cert.get("rebuilt", []):
            for table, info in ({} if built["success"] else built["tables"]).items():
                path = features_dir(settings) / table / f"as_of={built['as_of']}" / "data.parquet"
                if path.is_file() and file_sha256(path) == info.get("old_version"):
                    found[f"aggregates:{table}/as_of={built['as_of']}"] = 1
    return found


def verify_erasure(
    settings: Settings,
    keyring: KeyRing,
    contracts: ContractSet,
    graph: SubjectGraph,
    token: str,
) -> Verification:
    landing = local_landing(settings, "privacy verify")  # it searches the landing files too
    subject = "sha256:" + digest(token)
    listing = read_list(suppression_state(settings))
    entry = listing["subjects"].get(subject)
    keys = {k: set(v) for k, v in (entry or {}).get("keys", {}).items()}
    keys.setdefault(graph.subject_column, set()).add(digest(token))
    result = Verification(subject, suppressed=entry is not None)
    store = lake_store(settings)  # a local folder or the object store
    con = connect(keyring, store)
    try:
        load_keys(con, keys)
        result.findings, result.searched = _lake(con, store, contracts, graph)
        for path in snapshot_files(features_dir(settings)):
            result.searched += 1
            n = count_subject_rows(con, f"read_parquet({sql_str(str(path))})")
            if n:
                result.findings[f"features:{path.parent.parent.name}/{path.parent.name}"] = n
        result.findings.update(_stored_features(con, store))
        if settings.warehouse.is_file():
            con.execute(f"ATTACH {sql_str(str(settings.warehouse))} AS wh (READ_ONLY)")
            result.searched += 1
            for name, n in warehouse_hits(con, "wh").items():
                result.findings[f"warehouse:{name}"] = n
        register_token_udf(con, Pseudonymizer(keyring, key_id_of(token)))
        for name in landing_hits(con, landing, contracts, graph):
            result.findings[f"landing:{name}"] = 1
    finally:
        con.close()
    result.findings.update(aggregates_kept(settings, keyring, subject))
    return result
