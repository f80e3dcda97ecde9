"""Retention: landing files and lake partitions older than their contract's ``retention_days``.

A lake partition whose interval ended more than ``retention_days`` before ``now`` is deleted
(under its writer lock; on an object store its manifest first, so readers lose it at once,
then its objects); a landing file of the table whose delivery date is that old is
deleted too. One audit entry lists what went (table, partition, dataset version; landing
file names and hashes), and one OpenLineage run outputs each purged lake table with a
``lifecycleStateChange`` of ``DROP`` and the removed version. Tables without
``retention_days`` are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines.contracts import ContractSet
from pipelines.hashing import file_sha256
from pipelines.ingest.landing import find_landing_files, landing_store, purge_stored_landing
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.lake.publish import locked, remove_partition
from pipelines.lake.storage import lake_store
from pipelines.protection.audit import AuditLog
from pipelines.settings import Settings

ACTION = "retention_purge"


@dataclass
class Purged:
    partitions: list[dict[str, str]] = field(default_factory=list)
    landing: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"partitions": self.partitions, "landing": self.landing}


def _purge_lake(settings: Settings, table: str, cutoff: datetime, out: Purged) -> None:
    """Delete ``table``'s partitions that ended by ``cutoff``, each under its writer lock:
    a local folder, or on the object store the manifest first, then every object of the
    partition (superseded and unfinished writes' objects included)."""
    for part in partitions(lake_store(settings), table):
        if part.interval.end <= cutoff:
            with locked(part, lock_url=settings.lock_url):
                gone = remove_partition(part)
            if gone is not None:
                out.partitions.append(
                    {"table": table, "partition": part.name,
                     "dataset_version": gone.dataset_version}
                )  # fmt: skip


def _purge_landing(
    settings: Settings, contracts: ContractSet, table: str, cutoff: datetime, out: Purged
) -> None:
    old = Interval(datetime(1900, 1, 1, tzinfo=UTC), cutoff)
    store = landing_store(settings)
    if store is not None:  # landing_url: the objects, each hashed before its delete
        for entry in purge_stored_landing(store, contracts[table], old):
            out.landing.append({"table": table, **entry})
        return
    if not settings.landing.is_dir():
        return
    for file in find_landing_files(settings.landing, contracts[table], old):
        digest = file_sha256(file.path)
        file.path.unlink()
        out.landing.append({"table": table, "file": file.relative, "sha256": digest})


def purge(
    settings: Settings, contracts: ContractSet, log: AuditLog, *, now: datetime, actor: str
) -> Purged:
    """Delete what is past retention; audited (also when nothing was due)."""
    out = Purged()
    for table in contracts.load_order():
        days = contracts[table].retention_days
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        _purge_lake(settings, table, cutoff, out)
        _purge_landing(settings, contracts, table, cutoff, out)
    log.append(
        actor=actor,
        action=ACTION,
        reason="retention periods of the contracts",
        details={
            "purged": json.dumps(out.as_dict(), sort_keys=True, separators=(",", ":")),
            "partitions": len(out.partitions),
            "landing_files": len(out.landing),
            "as_of": now.isoformat(),
        },
    )
    return out


def purge_lineage(
    settings: Settings, contracts: ContractSet, purged: Purged, audit_seq: int | None
) -> Any:
    from openlineage.client.generated import lifecycle_state_change_dataset

    from pipelines.lineage import facets as f
    from pipelines.lineage.emit import LineageParts
    from pipelines.lineage.events import output_dataset
    from pipelines.lineage.naming import lake_dataset
    from pipelines.privacy.lineage import privacy_facet

    outputs = []
    for p in purged.partitions:
        ns, name = lake_dataset(settings.lake_url or settings.lake, p["table"])
        drop = lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange.DROP
        )
        facets = {
            "lifecycleStateChange": drop,
            "datasetVersion": f.dataset_version(p["dataset_version"]),
        }
        outputs.append(output_dataset(ns, name, facets))
    facet = privacy_facet(
        "purge", audit_seq, artifacts=len(purged.partitions) + len(purged.landing)
    )
    return LineageParts(outputs=outputs, run_facets={"pipelines_privacy": facet})
