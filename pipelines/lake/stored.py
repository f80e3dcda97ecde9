"""Partitions in a :class:`~pipelines.lake.storage.LakeStorage`: publication and verified reads.

On an object store a partition is published **manifest last**: its data and quarantine files
are written first, then ``manifest.json``; a partition without a manifest is invisible to
readers (as a staging folder is locally), and each object is written whole or not at all.
A verified read checks the file's SHA-256 against the manifest, as
:func:`pipelines.lake.partitions.verified_data_file` does for a local partition, and raises
the same :class:`~pipelines.lake.partitions.LakeIntegrityError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.lake.manifest import DATA_NAME, MANIFEST_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.partitions import LakeIntegrityError
from pipelines.lake.storage import LakeStorage


@dataclass(frozen=True)
class StoredPartition:
    """A published partition in a :class:`LakeStorage` (``table/partition/``)."""

    table: str
    partition: str
    manifest: Manifest

    def rel(self, name: str) -> str:
        return f"{self.table}/{self.partition}/{name}"


def publish_to(
    storage: LakeStorage, manifest: Manifest, data: Path, quarantine: Path, scratch: Path
) -> StoredPartition:
    """Publish a partition built locally: data and quarantine files first, the manifest last.

    A re-run overwrites the same objects; until its manifest is written, readers see the
    previous manifest, and a verified read of a file it no longer matches fails by name.
    """
    part = StoredPartition(manifest.table, manifest.partition, manifest)
    storage.put(data, part.rel(DATA_NAME))
    storage.put(quarantine, part.rel(QUARANTINE_NAME))
    manifest.write(scratch)
    storage.put(scratch / MANIFEST_NAME, part.rel(MANIFEST_NAME))
    return part


def stored_partitions(storage: LakeStorage, table: str) -> list[StoredPartition]:
    """``table``'s published partitions: ``dt=*`` folders holding a manifest."""
    found = []
    for name in storage.listdir(table):
        if name.startswith("dt=") and MANIFEST_NAME in storage.listdir(f"{table}/{name}"):
            text = storage.read_text(f"{table}/{name}/{MANIFEST_NAME}")
            found.append(StoredPartition(table, name, Manifest.model_validate_json(text)))
    return found


def verified_uri(storage: LakeStorage, part: StoredPartition, name: str = DATA_NAME) -> str:
    """Where DuckDB reads ``part``'s file ``name``, after checking its SHA-256 against the
    manifest (``dataset_version`` or ``quarantine_version``); :class:`LakeIntegrityError`
    otherwise."""
    expected = (
        part.manifest.dataset_version if name == DATA_NAME else part.manifest.quarantine_version
    )
    found = storage.sha256(part.rel(name))
    where = f"{storage.uri(part.rel(name))}"
    fix = (
        f"Re-ingest the interval to republish it: pipelines ingest --table {part.table} "
        f"--start {part.manifest.interval_start[:10]} --end {part.manifest.interval_end[:10]}."
    )
    if found is None:
        raise LakeIntegrityError(f"{where} is missing but its manifest records {expected}. {fix}")
    if found != expected:
        raise LakeIntegrityError(
            f"{where} does not match its manifest: expected SHA-256 {expected}, found {found}; "
            f"nothing was read from it. {fix}"
        )
    return storage.uri(part.rel(name))
