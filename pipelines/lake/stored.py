"""Publishing a partition to an object store: data first, under content-addressed keys; the
manifest last, as the commit.

An object store has no rename, so a partition cannot be swapped in whole as a local folder is
(:func:`pipelines.lake.publish.staged_partition`). Instead every object is written whole
(one PUT each) in this order:

1. ``<table>/<partition>/data-<sha256>.parquet`` and ``quarantine-<sha256>.parquet``: new
   keys (or the same bytes again), invisible to readers, who follow only manifests;
2. ``<table>/<partition>/manifest.json``, naming those hashes: the commit.

A reader sees the previous manifest and its files, or the new ones, never a mix. A writer
killed before step 2 leaves only objects no manifest names (:func:`unreferenced` lists them);
a re-run writes the same keys for the same content, so it gives the same content hash.

With a DuckLake catalog (``lake_catalog_url``) step 2 is a catalog transaction instead of
``manifest.json`` (:mod:`pipelines.lake.ducklake.commit`), and deleting objects expires
the snapshots that still reach them (:func:`forget`).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.hashing import file_sha256
from pipelines.lake.ducklake import commit as catalog_commit
from pipelines.lake.ducklake import history as catalog_history
from pipelines.lake.manifest import DATA_NAME, MANIFEST_NAME, QUARANTINE_NAME, Manifest
from pipelines.lake.partitions import Partition, partitions, published
from pipelines.lake.storage import LakeStorage, catalog_of


class PublicationError(RuntimeError):
    """A staged partition does not match its own manifest; nothing was published."""


def publish_staged(store: LakeStorage, table: str, partition: str, staging: Path) -> Partition:
    """Publish the partition staged in the local folder ``staging`` (its ``data.parquet``,
    ``quarantine.parquet`` and ``manifest.json``) to ``store``, manifest last."""
    manifest = Manifest.read(staging)
    staged = {
        DATA_NAME: manifest.dataset_version,
        QUARANTINE_NAME: manifest.quarantine_version,
    }
    for name, version in staged.items():
        if file_sha256(staging / name) != version:
            raise PublicationError(
                f"{table}/{partition}: staged {name} does not match its manifest; "
                "nothing was published"
            )
    if (manifest.table, manifest.partition) != (table, partition):
        raise PublicationError(
            f"{table}/{partition}: the staged manifest is for "
            f"{manifest.table}/{manifest.partition}; nothing was published"
        )
    part = Partition(table, partition, manifest, store)
    store.put(staging / DATA_NAME, part.data_rel)
    store.put(staging / QUARANTINE_NAME, part.quarantine_rel)
    if catalog_of(store) is None:
        store.put(staging / MANIFEST_NAME, part.rel(MANIFEST_NAME))  # the commit
    else:
        _commit(part)
    return part


def _commit(part: Partition) -> None:
    """Commit ``part`` (its objects on the store) in the lake's DuckLake catalog."""
    catalog = catalog_of(part.store)
    assert catalog is not None
    manifest = part.manifest
    entry = catalog_commit.Entry(
        part.table, part.name, manifest.model_dump_json(), part.data_uri,
        part.store.uri(part.quarantine_rel),
    )  # fmt: skip
    extra = {
        "table": part.table,
        "partition": part.name,
        "dataset_version": manifest.dataset_version,
        "quarantine_version": manifest.quarantine_version,
        "counts": manifest.counts.model_dump(),
    }
    catalog_commit.commit_partition(catalog, entry, manifest.run_id, extra)


def unreferenced(store: LakeStorage, table: str) -> list[str]:
    """``table``'s objects that no published manifest names (what a killed or superseded
    write left), relative to the lake root; a clean-up may delete them."""
    named: set[str] = set()
    by_name = {p.name: p for p in partitions(store, table)}
    for part in by_name.values():
        named |= {part.rel(MANIFEST_NAME), part.data_rel, part.quarantine_rel}
    found = []
    for folder in store.listdir(table):
        for name in store.listdir(f"{table}/{folder}"):
            rel = f"{table}/{folder}/{name}"
            if rel not in named and not name.startswith("."):
                found.append(rel)
    return sorted(found)


def partition_objects(store: LakeStorage, table: str, partition: str) -> list[str]:
    """Every object under ``table/partition/`` (the manifest, current and superseded data
    and quarantine objects, a killed writer's), relative to the lake root."""
    folder = f"{table}/{partition}"
    return [f"{folder}/{n}" for n in store.listdir(folder) if not n.startswith(".")]


def current(store: LakeStorage, table: str, partition: str) -> Manifest | None:
    """``table/partition``'s manifest as committed now on ``store`` (its catalog row, or its
    ``manifest.json`` object), or None."""
    part = published(store, table, partition)
    return None if part is None else part.manifest


def delete_unreferenced(store: LakeStorage, table: str, partition: str) -> list[str]:
    """Delete the objects of ``table/partition`` that its current manifest does not name
    (superseded versions, a killed writer's objects); what was deleted. The caller holds the
    partition's lock (no live writer has objects there), and accepts that a reader which
    listed the previous manifest and is still reading its objects fails ("object missing",
    naming the partition) instead of reading them."""
    gone = unreferenced_in(store, table, partition)
    for rel in gone:
        store.delete(rel)
    forget(store, gone)
    return gone


def unreferenced_in(store: LakeStorage, table: str, partition: str) -> list[str]:
    """The objects of ``table/partition`` its current manifest (if any) does not name."""
    manifest = current(store, table, partition)
    keep: set[str] = set()
    if manifest is not None:
        part = Partition(table, partition, manifest, store)
        keep = {part.rel(MANIFEST_NAME), part.data_rel, part.quarantine_rel}
    return [rel for rel in partition_objects(store, table, partition) if rel not in keep]


def delete_stored_partition(store: LakeStorage, table: str, partition: str) -> Manifest | None:
    """Delete ``table/partition`` from the object store: its manifest first (readers follow
    manifests only, so the partition disappears at once), then every object under it. The
    caller holds the partition's lock. The deleted manifest, or None if there was none.
    With a DuckLake catalog the manifest row and the files' rows go in one transaction, the
    objects after, and the snapshots that still reach them are expired."""
    catalog = catalog_of(store)
    if catalog is not None:
        text = catalog_commit.remove_partition(catalog, table, partition, "retention")
        manifest = None if text is None else Manifest.model_validate_json(text)
    else:
        manifest = current(store, table, partition)
        if manifest is not None:
            store.delete(f"{table}/{partition}/{MANIFEST_NAME}")
    gone = partition_objects(store, table, partition)
    for rel in gone:
        store.delete(rel)
    forget(store, gone)
    return manifest


def forget(store: LakeStorage, deleted: list[str]) -> list[int]:
    """With a DuckLake catalog: expire the snapshots from which time travel still reaches
    the ``deleted`` objects (relative names), so no as-of read returns their rows; the
    snapshots expired. Without one: nothing (no history is kept)."""
    catalog = catalog_of(store)
    if catalog is None or not deleted:
        return []
    return catalog_history.expire_referencing(catalog, [store.uri(rel) for rel in deleted])
