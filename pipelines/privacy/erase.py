"""``pipelines privacy erase``: remove a subject from every artifact, with a certificate.

1. Find the subject: the tables come from the contracts (:mod:`~pipelines.lake.subjects`),
   the partitions and keys from the lake (:mod:`~pipelines.privacy.locate`).
2. Put the subject's key digests on the suppression list first, so an ingestion that runs
   meanwhile or later drops their rows (:mod:`~pipelines.lake.suppression`).
3. Rewrite every lake partition holding them (data and quarantine) as a new dataset
   version; the old files are deleted (on an object store: after the new manifest, the
   superseded objects, and every object of the subject's tables no manifest names). Then
   the feature snapshots, their releases and the warehouse
   (:mod:`~pipelines.privacy.derived`; with the lake on an object store, the releases
   published there too: :mod:`~pipelines.privacy.stored_features`); the feature tables of
   every as-of date that read a rewritten partition are built again from the rewritten
   lake, so no aggregate (product, seller) keeps the person's contribution
   (:mod:`~pipelines.privacy.rebuild`); then the retained landing files
   (:mod:`~pipelines.privacy.landing`).
4. Write the erasure certificate into the audit log (MAC-chained): tables, partitions with old
   and new versions, rows removed per artifact, key digests suppressed. Counts, names and
   hashes only; the subject appears as ``sha256:`` of its token. The run is in lineage too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipelines.contracts import ContractSet
from pipelines.features.paths import features_dir
from pipelines.features.stored import drop_built
from pipelines.ingest.landing import local_landing
from pipelines.lake.storage import lake_store
from pipelines.lake.subject_match import load_keys
from pipelines.lake.subjects import SubjectGraph
from pipelines.lake.suppression import add_subject, suppression_state
from pipelines.privacy.authorize import Request, audit_outcome
from pipelines.privacy.derived import DerivedRewrite, rewrite_features, rewrite_warehouse
from pipelines.privacy.landing import LandingRewrite, register_token_udf, rewrite_landing
from pipelines.privacy.locate import connect, locate
from pipelines.privacy.rebuild import Rebuilt, rebuild_features
from pipelines.privacy.rewrite import Rewritten, delete_leftovers, rewrite_partition
from pipelines.privacy.stored_features import pull_releases, push_releases
from pipelines.protection.audit import AuditLog
from pipelines.protection.keys import KeyRing
from pipelines.protection.pseudonymize import Pseudonymizer, key_id_of
from pipelines.settings import Settings
from pipelines.warehouse.stored import pull_warehouse, push_warehouse, warehouse_lock

ACTION = "privacy_erase"
CIPHERTEXT_KEY = "ciphertext"
"""Key under which the digests of the subject's ciphertexts (e-mail, phone) are kept, for
verification: no table column is matched on it."""


@dataclass
class Certificate:
    subject: str  # sha256: of the token
    subject_column: str
    tables: list[str]
    lake: list[Rewritten] = field(default_factory=list)
    features: list[DerivedRewrite] = field(default_factory=list)
    warehouse: list[DerivedRewrite] = field(default_factory=list)
    rebuilt: list[Rebuilt] = field(default_factory=list)
    landing: list[LandingRewrite] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    unreferenced_deleted: int = 0
    """Objects of the subject's tables no manifest named, deleted from the object store."""
    snapshots_deleted: int = 0
    """Superseded feature snapshot objects of republished releases deleted from the store."""
    warehouse_pushed: bool = False
    """The rewritten warehouse replaced the store's (every older warehouse object deleted)."""
    handovers_deleted: int = 0
    """Unpublished built feature hand-over objects deleted from the store."""
    audit_seq: int | None = None

    @property
    def rows_removed(self) -> int:
        lake = sum(r.data_rows_removed + r.quarantine_rows_removed for r in self.lake)
        derived = sum(d.rows_removed for d in [*self.features, *self.warehouse])
        return lake + derived + sum(r.records_removed for r in self.landing)

    @property
    def aggregates_kept(self) -> list[str]:
        """Feature snapshots whose rebuild failed: they still hold the person's contribution."""
        return [
            f"features/{t}/as_of={r.as_of}" for r in self.rebuilt if not r.success for t in r.tables
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "subject_column": self.subject_column,
            "tables": self.tables,
            "lake": [r.as_dict() for r in self.lake],
            "features": [d.as_dict() for d in self.features],
            "warehouse": [d.as_dict() for d in self.warehouse],
            "rebuilt": [r.as_dict() for r in self.rebuilt],
            "aggregates_kept": self.aggregates_kept,
            "landing": [r.as_dict() for r in self.landing],
            "suppressed_keys": self.keys,
            "unreferenced_deleted": self.unreferenced_deleted,
            "snapshots_deleted": self.snapshots_deleted,
            "warehouse_pushed": self.warehouse_pushed,
            "handovers_deleted": self.handovers_deleted,
            "rows_removed": self.rows_removed,
        }


def _rewrite_derived(con: Any, settings: Settings, cert: Certificate, *, rebuild: bool) -> None:
    """The feature snapshots, their releases and the warehouse. With the lake on an object
    store, their copies there too, as the one warehouse writer: the warehouse and the
    published releases are pulled, rewritten and pushed again (every older warehouse object
    deleted), and the unpublished built hand-overs are deleted."""
    with warehouse_lock(settings):
        pointer = pull_warehouse(settings)  # the store's warehouse, if any, is the one to fix
        pulled = pull_releases(settings)  # releases on the object store, into the cache
        cert.features = rewrite_features(con, features_dir(settings), cert.lake)
        if rebuild:
            cert.rebuilt = rebuild_features(settings, {r.new_version for r in cert.lake})
        cert.snapshots_deleted = len(push_releases(settings, pulled))
        cert.warehouse = rewrite_warehouse(con, settings.warehouse, fresh=bool(cert.rebuilt))
        if pointer is not None:
            push_warehouse(
                settings,
                release_id=str(pointer.get("release_id")),
                as_of=str(pointer.get("as_of")),
                keep_previous=False,
            )
            cert.warehouse_pushed = True
        cert.handovers_deleted = len(drop_built(settings))


def erase(
    settings: Settings,
    keyring: KeyRing,
    log: AuditLog,
    request: Request,
    contracts: ContractSet,
    graph: SubjectGraph,
    *,
    landing: bool = True,
    rebuild: bool = True,
) -> Certificate:
    """Erase ``request``'s subject everywhere (see the module docstring)."""
    if landing:  # before anything changes: rewriting landing files needs them local
        local_landing(settings, "privacy erase (without --keep-landing)")
    cert = Certificate(request.subject, graph.subject_column, graph.names)
    try:
        store = lake_store(settings)
        found = locate(store, contracts, graph, request.token, keyring)
        found.add(CIPHERTEXT_KEY, found.ciphertexts)
        add_subject(suppression_state(settings), request.subject, found.keys, graph.subject_column)
        cert.keys = {k: len(v) for k, v in sorted(found.keys.items())}
        con = connect(keyring, store)
        try:
            load_keys(con, found.keys)
            cert.lake = [
                rewrite_partition(con, h.partition, graph, contracts, lock_url=settings.lock_url)
                for h in found.hits
            ]
            cert.unreferenced_deleted = len(
                delete_leftovers(store, graph.names, lock_url=settings.lock_url)
            )
            _rewrite_derived(con, settings, cert, rebuild=rebuild)
            if landing:
                pseudo = Pseudonymizer(keyring, key_id_of(request.token))
                register_token_udf(con, pseudo)
                cert.landing = rewrite_landing(con, settings.landing, contracts, graph)
        finally:
            con.close()
    except Exception as exc:
        audit_outcome(
            log, request, action=ACTION, actor=request.actor, reason=request.reason,
            outcome="failed", error=exc, details={"certificate": json.dumps(cert.as_dict())},
        )  # fmt: skip
        raise
    cert.audit_seq = audit_outcome(
        log,
        request,
        action=ACTION,
        actor=request.actor,
        reason=request.reason,
        outcome="success",
        details={
            "certificate": json.dumps(cert.as_dict(), sort_keys=True, separators=(",", ":")),
            "partitions_rewritten": len(cert.lake),
            "rows_removed": cert.rows_removed,
        },
    )
    return cert
