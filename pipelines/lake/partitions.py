"""Reading the lake's layout: tables, partitions and their manifests, and verified reads.

Every reader of lake data (ingestion's foreign-key lookups, the quality gate, the warehouse's
``lake.*`` views behind the feature build and provenance) takes file locations from
:func:`verified_data_file`, :func:`verified_quarantine_file` or :func:`verified_data_files`:
each hashes the file and compares it with the SHA-256 its manifest recorded at publication
(``dataset_version`` / ``quarantine_version``), and raises :class:`LakeIntegrityError` on a
mismatch instead of letting a changed file be read as if it were the published one.

The lake is a local folder or an object store (:mod:`pipelines.lake.storage`); a reader
passes either a local lake folder or a :class:`~pipelines.lake.storage.LakeStorage`
(:func:`pipelines.lake.storage.lake_store` for the settings' lake) and gets locations
DuckDB reads (a path or an ``s3://`` URL; the connection needs
:meth:`~pipelines.lake.storage.LakeStorage.prepare`).

**Layout.** ``<table>/dt=<interval start>/manifest.json`` and the partition's two files. In
a local folder they are ``data.parquet`` and ``quarantine.parquet`` (a partition is swapped
in whole by renames, :mod:`pipelines.lake.publish`). On an object store, where nothing
renames, they are content-addressed, ``data-<sha256>.parquet`` and
``quarantine-<sha256>.parquet``, and the manifest, written last, is the commit: readers only
follow a manifest, so objects of an unfinished or superseded write are never read. With a
DuckLake catalog the manifests are rows of its ``_pipelines_manifests`` table instead
(:mod:`pipelines.lake.ducklake`), listed as of any snapshot it keeps; a partition listed
from a catalog carries the snapshot that committed it (:attr:`Partition.snapshot`, what
lineage, releases and explain name beside the SHA-256).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.lake.ducklake import history as catalog_history
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import DATA_NAME, MANIFEST_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.storage import (
    LakeStorage,
    LocalStorage,
    S3Storage,
    catalog_of,
    lake_storage,
)


class LakeIntegrityError(RuntimeError):
    """A lake file no longer matches the hash its manifest recorded; nothing was read from it."""


def file_name(name: str, version: str, versioned: bool) -> str:
    """A partition file's name: ``data.parquet`` or, content-addressed, ``data-<sha>.parquet``."""
    if not versioned:
        return name
    stem, _, suffix = name.partition(".")
    return f"{stem}-{version}.{suffix}"


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    """The partition folder's name, ``dt=...``."""
    manifest: Manifest
    store: LakeStorage
    snapshot: int | None = None
    """With a DuckLake catalog, the snapshot whose commit published this version (filled by
    the catalog's listing); None for a local lake or a store without a catalog."""

    @property
    def interval(self) -> Interval:
        return Interval(
            datetime.fromisoformat(self.manifest.interval_start),
            datetime.fromisoformat(self.manifest.interval_end),
        )

    def rel(self, name: str) -> str:
        """``name``'s location relative to the lake root."""
        return f"{self.table}/{self.name}/{name}"

    @property
    def data_rel(self) -> str:
        return self.rel(file_name(DATA_NAME, self.manifest.dataset_version, self.store.versioned))

    @property
    def quarantine_rel(self) -> str:
        version = self.manifest.quarantine_version
        return self.rel(file_name(QUARANTINE_NAME, version, self.store.versioned))

    @property
    def data_uri(self) -> str:
        """Where DuckDB reads the data file, unverified: read through :func:`verified_data_file`."""
        return self.store.uri(self.data_rel)

    @property
    def location(self) -> Path | str:
        """The partition's local folder, or its URL on an object store (for lineage)."""
        if isinstance(self.store, LocalStorage):
            return self.folder
        return self.store.uri(f"{self.table}/{self.name}")

    @property
    def manifest_location(self) -> str:
        """Where the manifest is (for lineage): its ``manifest.json`` (absolute path or URL),
        or with a catalog its row there (:meth:`LakeCatalog.row_location`, no credential)."""
        catalog = catalog_of(self.store)
        if catalog is not None:
            return catalog.row_location(self.table, self.name)
        return in_partition(self.location, MANIFEST_NAME)

    @property
    def folder(self) -> Path:
        """The partition's local folder; only a local lake has one."""
        if not isinstance(self.store, LocalStorage):
            raise ValueError(f"{self.table}/{self.name} is on {self.store.root}: no local folder")
        return Path(self.store.root) / self.table / self.name

    @property
    def data_file(self) -> Path:
        """The data file's local path, unverified: read through :func:`verified_data_file`."""
        return self.folder / DATA_NAME

    @property
    def quarantine_file(self) -> Path:
        return self.folder / QUARANTINE_NAME


def in_partition(folder: Path | str, name: str) -> str:
    """The location of file ``name`` of the partition at ``folder`` (a local folder, made
    absolute, or an object store URL)."""
    text = str(folder)
    if "://" in text:
        return f"{text.rstrip('/')}/{name}"
    return os.path.abspath(Path(text) / name)


def as_store(lake: Path | str | LakeStorage) -> LakeStorage:
    """A lake given as a local folder, a root URL or a storage, as a storage."""
    return lake_storage(lake) if isinstance(lake, (str, Path)) else lake


def partitions(
    lake: Path | str | LakeStorage, table: str, snapshot: int | None = None
) -> list[Partition]:
    """The published partitions of ``table``: ``dt=*`` folders holding a manifest (hidden
    staging/trash folders excluded); with a DuckLake catalog, its manifest rows, as of
    ``snapshot`` when given (time travel; only a store with a catalog keeps snapshots)."""
    store = as_store(lake)
    catalog = catalog_of(store)
    if catalog is not None:
        return [
            Partition(
                table, r.partition, Manifest.model_validate_json(r.manifest), store, r.snapshot
            )
            for r in catalog_history.manifests(catalog, table, snapshot)
        ]
    if snapshot is not None:
        raise ValueError(
            f"{table}: an as-of listing (snapshot {snapshot}) needs the lake's DuckLake "
            "catalog (lake_catalog_url); this lake keeps only the current version"
        )
    if isinstance(store, S3Storage):
        texts = store.read_texts(f"{table}/dt=*/{MANIFEST_NAME}")
        return [
            Partition(table, rel.split("/")[1], Manifest.model_validate_json(text), store)
            for rel, text in sorted(texts.items())
        ]
    table_dir = Path(store.root) / table
    if not table_dir.is_dir():
        return []
    found = []
    for folder in sorted(table_dir.iterdir()):
        if folder.is_dir() and folder.name.startswith("dt=") and (folder / MANIFEST_NAME).exists():
            found.append(Partition(table, folder.name, Manifest.read(folder), store))
    return found


RESERVED_PREFIXES = ("_", ".")
"""Names at the lake's root that are no table: ``_quality/``, ``_state/``, ``_features/``,
``_reports/``, ``_warehouse/``, ``_keys.json`` and hidden staging folders."""


def tables(lake: Path | str | LakeStorage) -> list[str]:
    """The lake's tables: the folders at its root (a local folder or the store's prefix, one
    listing), the reserved names (:data:`RESERVED_PREFIXES`) left out; sorted."""
    return [n for n in as_store(lake).scan("").folders if not n.startswith(RESERVED_PREFIXES)]


def published(lake: Path | str | LakeStorage, table: str, name: str) -> Partition | None:
    """``table``'s partition ``name`` as published now (with its snapshot on a catalog: one
    row read), or None."""
    store = as_store(lake)
    catalog = catalog_of(store)
    if catalog is not None:
        row = catalog_history.current_row(catalog, table, name)
        if row is None:
            return None
        manifest = Manifest.model_validate_json(row.manifest)
        return Partition(table, name, manifest, store, row.snapshot)
    if isinstance(store, S3Storage):
        rel = f"{table}/{name}/{MANIFEST_NAME}"
        if store.sha256(rel) is None:
            return None
        return Partition(table, name, Manifest.model_validate_json(store.read_text(rel)), store)
    folder = Path(store.root) / table / name
    if not (folder / MANIFEST_NAME).is_file():
        return None
    return Partition(table, name, Manifest.read(folder), store)


def partitions_until(lake: Path | str | LakeStorage, table: str, end: datetime) -> list[Partition]:
    """Partitions whose interval starts before ``end`` (what a run for ``[.., end)`` may see)."""
    return [p for p in partitions(lake, table) if p.interval.start < end]


class PartitionSuperseded(LakeIntegrityError):
    """A partition's objects were deleted because a newer manifest replaced (or retention
    removed) the one the reader listed; re-running reads the current version."""


def _superseded(part: Partition) -> bool:
    """Whether the manifest published now differs from the one ``part`` was listed with."""
    if not part.store.versioned:
        return False
    now = published(part.store, part.table, part.name)
    return now is None or now.manifest != part.manifest


def _verified(part: Partition, rel: str, expected: str) -> str:
    start, end = part.manifest.interval_start[:10], part.manifest.interval_end[:10]
    fix = (
        f"Re-ingest the interval to republish it from landing: pipelines ingest --table "
        f"{part.table} --start {start} --end {end} (then re-run its quality gate)."
    )
    where, uri = f"{part.table}/{part.name}", part.store.uri(rel)
    found = part.store.sha256(rel)
    if found is None and _superseded(part):
        raise PartitionSuperseded(
            f"{where}: the version this run listed ({part.manifest.dataset_version}) was "
            f"replaced or removed while it was being read (a re-run, an erasure or retention "
            f"deleted {uri}); nothing was read from it. Re-run the task: it reads the "
            "partition as published now."
        )
    if found is None:
        raise LakeIntegrityError(
            f"{where}: {uri} is missing but its manifest records SHA-256 {expected}. {fix}"
        )
    if found != expected:
        raise LakeIntegrityError(
            f"{where}: {uri} does not match its manifest: expected SHA-256 {expected}, "
            f"found {found}. The file was changed after publication; nothing was read from "
            f"it. {fix}"
        )
    return uri


def verified_data_file(part: Partition) -> str:
    """``part``'s data file, after checking its SHA-256 against the manifest's dataset version."""
    return _verified(part, part.data_rel, part.manifest.dataset_version)


def verified_quarantine_file(part: Partition) -> str:
    """``part``'s quarantine file, checked against the manifest's quarantine version."""
    return _verified(part, part.quarantine_rel, part.manifest.quarantine_version)


def verified_data_files(parts: Iterable[Partition]) -> list[str]:
    """The data files of ``parts``, each verified (see :func:`verified_data_file`).

    Files are hashed on parallel threads (hashlib releases the GIL on large buffers); the
    first mismatch, in ``parts`` order, is raised.
    """
    parts = list(parts)
    if len(parts) < 2:
        return [verified_data_file(p) for p in parts]
    with ThreadPoolExecutor(min(len(parts), os.cpu_count() or 1), "lake-verify") as pool:
        return list(pool.map(verified_data_file, parts))
