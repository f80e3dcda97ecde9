"""Garbage collection on an object store: objects no manifest names, older than a grace period.

Publication on a store (:mod:`pipelines.lake.stored`) never overwrites: a re-run leaves the
superseded version's data and quarantine objects, and a writer killed before its manifest
leaves its objects. Readers never follow them (they read by manifest), but they take space
and, until deleted, hold whatever rows they held. :func:`collect` lists them and, asked to,
deletes those older than ``grace``: a reader that listed the previous manifest a moment ago
may still be reading its objects, and a live writer's objects are not named by a manifest
yet, so young objects stay. Each partition's are deleted under its writer lock, rechecked
against the manifest published then. A local lake has nothing to collect (a publication
swaps the partition folder and deletes the old one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from pipelines.lake import s3client
from pipelines.lake.publish import lock_root, partition_lock
from pipelines.lake.storage import LakeStorage, S3Storage
from pipelines.lake.stored import forget, unreferenced, unreferenced_in


@dataclass(frozen=True)
class Garbage:
    rel: str
    """The object, relative to the lake root (``<table>/dt=<start>/data-<sha256>.parquet``)."""
    modified: datetime
    deleted: bool = False


def written(store: LakeStorage, table: str) -> dict[str, datetime]:
    """When each object under ``table/`` was last written (the store's LastModified; a
    local file's mtime), by its name relative to the lake root."""
    if isinstance(store, S3Storage):
        bucket, key = s3client.split_url(store.uri(f"{table}/"))
        root = key[: len(key) - len(table) - 1]
        pages = s3client.s3_client(store.env).get_paginator("list_objects_v2")
        return {
            str(item["Key"])[len(root) :]: item["LastModified"].astimezone(UTC)
            for page in pages.paginate(Bucket=bucket, Prefix=key)
            for item in page.get("Contents", [])
        }
    folder = Path(store.uri(table))
    return {
        f"{table}/{p.relative_to(folder)}": datetime.fromtimestamp(p.stat().st_mtime, UTC)
        for p in folder.rglob("*")
        if p.is_file()
    }


def collect(
    store: LakeStorage,
    tables: list[str],
    *,
    grace: timedelta,
    now: datetime | None = None,
    delete: bool = False,
    lock_url: SecretStr | None = None,
) -> list[Garbage]:
    """``tables``' unreferenced objects written more than ``grace`` before ``now``; with
    ``delete``, deleted (each partition's under its lock, only those still unreferenced)."""
    if not store.versioned:
        return []
    cutoff = (now or datetime.now(UTC)) - grace
    found: list[Garbage] = []
    for table in tables:
        by_partition: dict[str, list[Garbage]] = {}
        times = written(store, table)
        for rel in unreferenced(store, table):
            when = times.get(rel)
            if when is not None and when <= cutoff:
                by_partition.setdefault(rel.split("/")[1], []).append(Garbage(rel, when))
        for partition, old in sorted(by_partition.items()):
            if not delete:
                found += old
                continue
            with partition_lock(lock_root(store) / table, partition, lock_url=lock_url):
                still = set(unreferenced_in(store, table, partition))
                for g in old:
                    if g.rel in still:
                        store.delete(g.rel)
                    found.append(Garbage(g.rel, g.modified, deleted=g.rel in still))
                forget(store, [g.rel for g in old if g.rel in still])  # no as-of read reaches them
    return found
