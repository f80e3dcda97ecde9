"""Reading the lake's layout: tables, partitions and their manifests, and verified reads.

Every reader of lake data (ingestion's foreign-key lookups, the quality gate, the warehouse's
``lake.*`` views behind the feature build and provenance) takes file paths from
:func:`verified_data_file`, :func:`verified_quarantine_file` or :func:`verified_data_files`:
each hashes the file and compares it with the SHA-256 its manifest recorded at publication
(``dataset_version`` / ``quarantine_version``), and raises :class:`LakeIntegrityError` on a
mismatch instead of letting a changed file be read as if it were the published one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.lake.interval import Interval
from pipelines.lake.manifest import DATA_NAME, MANIFEST_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.storage import LocalStorage


class LakeIntegrityError(RuntimeError):
    """A lake file no longer matches the hash its manifest recorded; nothing was read from it."""


@dataclass(frozen=True)
class Partition:
    table: str
    folder: Path
    manifest: Manifest

    @property
    def interval(self) -> Interval:
        return Interval(
            datetime.fromisoformat(self.manifest.interval_start),
            datetime.fromisoformat(self.manifest.interval_end),
        )

    @property
    def data_file(self) -> Path:
        """The data file's path, unverified: read through :func:`verified_data_file`."""
        return self.folder / DATA_NAME

    @property
    def quarantine_file(self) -> Path:
        return self.folder / QUARANTINE_NAME


def partitions(lake: Path, table: str) -> list[Partition]:
    """The published partitions of ``table`` (hidden staging/trash folders excluded)."""
    table_dir = lake / table
    if not table_dir.is_dir():
        return []
    found = []
    for folder in sorted(table_dir.iterdir()):
        if folder.is_dir() and folder.name.startswith("dt=") and (folder / MANIFEST_NAME).exists():
            found.append(Partition(table, folder, Manifest.read(folder)))
    return found


def partitions_until(lake: Path, table: str, end: datetime) -> list[Partition]:
    """Partitions whose interval starts before ``end`` (what a run for ``[.., end)`` may see)."""
    return [p for p in partitions(lake, table) if p.interval.start < end]


def _verified(part: Partition, path: Path, expected: str) -> Path:
    start, end = part.manifest.interval_start[:10], part.manifest.interval_end[:10]
    fix = (
        f"Re-ingest the interval to republish it from landing: pipelines ingest --table "
        f"{part.table} --start {start} --end {end} (then re-run its quality gate)."
    )
    where = f"{part.table}/{part.folder.name}"
    if not path.is_file():
        raise LakeIntegrityError(
            f"{where}: {path} is missing but its manifest records SHA-256 {expected}. {fix}"
        )
    found = LocalStorage(str(path.parent)).sha256(path.name)
    if found != expected:
        raise LakeIntegrityError(
            f"{where}: {path} does not match its manifest: expected SHA-256 {expected}, "
            f"found {found}. The file was changed after publication; nothing was read from "
            f"it. {fix}"
        )
    return path


def verified_data_file(part: Partition) -> Path:
    """``part``'s data file, after checking its SHA-256 against the manifest's dataset version."""
    return _verified(part, part.data_file, part.manifest.dataset_version)


def verified_quarantine_file(part: Partition) -> Path:
    """``part``'s quarantine file, checked against the manifest's quarantine version."""
    return _verified(part, part.quarantine_file, part.manifest.quarantine_version)


def verified_data_files(parts: Iterable[Partition]) -> list[Path]:
    """The data files of ``parts``, each verified (see :func:`verified_data_file`).

    Files are hashed on parallel threads (hashlib releases the GIL on large buffers); the
    first mismatch, in ``parts`` order, is raised.
    """
    parts = list(parts)
    if len(parts) < 2:
        return [verified_data_file(p) for p in parts]
    with ThreadPoolExecutor(min(len(parts), os.cpu_count() or 1), "lake-verify") as pool:
        return list(pool.map(verified_data_file, parts))
