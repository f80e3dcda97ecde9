"""Feature releases on the lake's object store, for workers and readers that share no disk.

When the lake is on an object store (``lake_url``), publishing a release also puts its
snapshots there, content-addressed, and the release file last (the commit):

``<lake_url>/_features/<table>/as_of=<date>/data-<sha256>.parquet``
``<lake_url>/_features/releases/as_of=<date>.json``

A reader on another machine (:func:`fetch_release`, :func:`fetch_snapshot`) copies a release
and its snapshots into its own ``<data_dir>/features`` (a cache: the paths of
:mod:`pipelines.features.paths`), checking each snapshot against the SHA-256 the publication
decided on. With a local lake nothing is copied: the files already are where readers look.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.hashing import file_sha256
from pipelines.lake.storage import LakeStorage, lake_store
from pipelines.settings import Settings

PREFIX = "_features"


class StoredSnapshotError(RuntimeError):
    """A snapshot on the object store does not match its release; nothing was served."""


def _store(settings: Settings) -> LakeStorage | None:
    store = lake_store(settings)
    return store if store.versioned else None


def release_rel(as_of: str) -> str:
    return f"{PREFIX}/releases/as_of={as_of}.json"


def snapshot_rel(table: str, as_of: str, sha256: str) -> str:
    return f"{PREFIX}/{table}/as_of={as_of}/data-{sha256}.parquet"


def publish_release(settings: Settings, release: Release) -> bool:
    """Put ``release``'s decided snapshots, then its release file, on the object store;
    False (nothing done) with a local lake."""
    store = _store(settings)
    if store is None:
        return False
    as_of = date.fromisoformat(release.as_of)
    for table, info in sorted(release.features.items()):
        sha = info.get("decided_sha256")
        if sha:
            store.put(
                snapshot_file(settings, table, as_of), snapshot_rel(table, release.as_of, sha)
            )
    store.put(release_file(settings, as_of), release_rel(release.as_of))  # the commit
    return True


def fetch_release(settings: Settings, as_of: date) -> Path | None:
    """Copy the release as of ``as_of`` from the object store into the local cache; its
    path, or None with a local lake or when the store has none."""
    store = _store(settings)
    if store is None or store.sha256(release_rel(as_of.isoformat())) is None:
        return None
    path = release_file(settings, as_of)
    store.get(release_rel(as_of.isoformat()), path)
    return path


def fetch_snapshot(settings: Settings, table: str, release: Release) -> Path | None:
    """Copy ``table``'s snapshot of ``release`` into the local cache unless the cached file
    already matches the decided SHA-256; its path, or None with a local lake."""
    store = _store(settings)
    sha = (release.features.get(table) or {}).get("decided_sha256")
    if store is None or not sha:
        return None
    path = snapshot_file(settings, table, date.fromisoformat(release.as_of))
    if path.is_file() and file_sha256(path) == sha:
        return path
    store.get(snapshot_rel(table, release.as_of, sha), path)
    if file_sha256(path) != sha:
        path.unlink()
        raise StoredSnapshotError(
            f"{table} as of {release.as_of}: {store.uri(snapshot_rel(table, release.as_of, sha))}"
            f" does not match its release {release.release_id}; nothing was served"
        )
    return path


def fetch_releases(settings: Settings) -> int:
    """Copy the releases on the object store that the local cache lacks; how many."""
    store = _store(settings)
    if store is None:
        return 0
    copied = 0
    for name in store.listdir(f"{PREFIX}/releases"):
        if name.startswith("as_of=") and name.endswith(".json"):
            path = release_file(settings, date.fromisoformat(name[len("as_of=") : -len(".json")]))
            if not path.is_file():
                store.get(f"{PREFIX}/releases/{name}", path)
                copied += 1
    return copied
