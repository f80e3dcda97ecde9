"""Feature releases on the lake's object store, for workers and readers that share no disk.

When the lake is on an object store (``lake_url``), publishing a release also puts its
snapshots there, content-addressed, and the release file last (the commit):

``<lake_url>/_features/<table>/as_of=<date>/data-<sha256>.parquet``
``<lake_url>/_features/releases/as_of=<date>.json``

Before publication, the build hands its output to the check and publish tasks (which may run
on other workers) the same way (:func:`hand_over_build`, :func:`fetch_built`):

``<lake_url>/_features/built/as_of=<date>/<table>/data-<sha256>.parquet``
``<lake_url>/_features/built/as_of=<date>/release.json`` (status ``built``; the commit)

A re-build of the same date replaces ``release.json``; the tasks after it always read the
release from the store (never a worker's older local copy) and each snapshot through the
local cache, checked against the SHA-256 that release records.

A reader on another machine (:func:`fetch_release`, :func:`fetch_snapshot`) copies a release
and its snapshots into its own ``<data_dir>/features`` (a cache: the paths of
:mod:`pipelines.features.paths`), checking each snapshot against the SHA-256 the publication
decided on. With a local lake nothing is copied: the files already are where readers look.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.hashing import file_sha256
from pipelines.lake.storage import LakeStorage, object_store
from pipelines.settings import Settings

PREFIX = "_features"
BUILT = f"{PREFIX}/built"


class StoredSnapshotError(RuntimeError):
    """A snapshot on the object store does not match its release; nothing was served."""


def release_rel(as_of: str) -> str:
    return f"{PREFIX}/releases/as_of={as_of}.json"


def snapshot_rel(table: str, as_of: str, sha256: str) -> str:
    return f"{PREFIX}/{table}/as_of={as_of}/data-{sha256}.parquet"


def built_release_rel(as_of: str) -> str:
    return f"{BUILT}/as_of={as_of}/release.json"


def built_snapshot_rel(table: str, as_of: str, sha256: str) -> str:
    return f"{BUILT}/as_of={as_of}/{table}/data-{sha256}.parquet"


def hand_over_build(settings: Settings, release: Release) -> bool:
    """Put ``release``'s built snapshots (the SHA-256 the export recorded), then its release
    file, on the object store; False (nothing done) with a local lake."""
    store = object_store(settings)
    if store is None:
        return False
    as_of = date.fromisoformat(release.as_of)
    for table, info in sorted(release.features.items()):
        store.put(
            snapshot_file(settings, table, as_of),
            built_snapshot_rel(table, release.as_of, info["sha256"]),
        )
    store.put(release_file(settings, as_of), built_release_rel(release.as_of))  # the commit
    return True


def fetch_built(
    settings: Settings, as_of: date, tables: tuple[str, ...] | None = None
) -> Release | None:
    """The built release as of ``as_of`` as the object store has it, with the snapshots of
    ``tables`` (default: all of them) in the local cache, each checked against the SHA-256
    the release records (``file`` then names the local copy); None with a local lake.

    Raises FileNotFoundError when no build of that date was handed over, and
    :class:`StoredSnapshotError` naming the object when a snapshot does not match."""
    store = object_store(settings)
    if store is None:
        return None
    rel = built_release_rel(as_of.isoformat())
    if store.sha256(rel) is None:
        raise FileNotFoundError(
            f"no feature build as of {as_of} on the store: {store.uri(rel)} does not exist; "
            "run build_features for that interval (it hands its snapshots over there)"
        )
    release = Release.from_json(store.read_text(rel))
    for table in tables if tables is not None else tuple(sorted(release.features)):
        info = release.features.get(table)
        if info is None:
            raise LookupError(
                f"{table}: not in the feature build {release.release_id} as of {as_of} "
                f"({store.uri(rel)}); built: {', '.join(sorted(release.features)) or 'none'}"
            )
        path = snapshot_file(settings, table, as_of)
        sha = info["sha256"]
        owner = f"the SHA-256 its build {release.release_id} recorded"
        what = f"{table} as of {release.as_of}"
        _cached(store, built_snapshot_rel(table, release.as_of, sha), path, sha, what, owner)
        info["file"] = str(path)
    return release


def _cached(store: LakeStorage, rel: str, path: Path, sha: str, what: str, owner: str) -> None:
    """Make ``path`` a copy of the object ``rel`` whose SHA-256 is ``sha`` (kept when the
    local file already matches). The object is copied beside ``path`` and renamed into place
    once verified: a mismatching one is refused and never appears at ``path``."""
    if path.is_file() and file_sha256(path) == sha:
        return
    staged = path.with_name(f".{path.name}.fetch-{os.getpid()}")
    try:
        store.get(rel, staged)
        if file_sha256(staged) != sha:
            raise StoredSnapshotError(
                f"{what}: {store.uri(rel)} does not match {owner}; nothing was served. "
                "Re-run the task that wrote it (build_features, or publish_features)"
            )
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def publish_release(settings: Settings, release: Release) -> bool:
    """Put ``release``'s decided snapshots, then its release file, on the object store;
    False (nothing done) with a local lake."""
    store = object_store(settings)
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
    store = object_store(settings)
    if store is None or store.sha256(release_rel(as_of.isoformat())) is None:
        return None
    path = release_file(settings, as_of)
    store.get(release_rel(as_of.isoformat()), path)
    return path


def fetch_snapshot(settings: Settings, table: str, release: Release) -> Path | None:
    """Copy ``table``'s snapshot of ``release`` into the local cache unless the cached file
    already matches the decided SHA-256; its path, or None with a local lake."""
    store = object_store(settings)
    sha = (release.features.get(table) or {}).get("decided_sha256")
    if store is None or not sha:
        return None
    path = snapshot_file(settings, table, date.fromisoformat(release.as_of))
    rel = snapshot_rel(table, release.as_of, sha)
    _cached(
        store, rel, path, sha, f"{table} as of {release.as_of}", f"its release {release.release_id}"
    )
    return path


def fetch_releases(settings: Settings) -> int:
    """Copy the releases on the object store that the local cache lacks; how many."""
    store = object_store(settings)
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


def drop_built(settings: Settings) -> list[str]:
    """Delete every built hand-over on the object store (an erasure: they may hold the
    person's rows; a publication still waiting for one then fails by name, and its
    ``build_features`` re-runs). The deleted objects, relative to the lake root."""
    store = object_store(settings)
    deleted: list[str] = []
    folders = [BUILT]
    while store is not None and folders:
        folder = folders.pop()
        listing = store.scan(folder)
        folders += [f"{folder}/{name}" for name in listing.folders]
        for name in listing.files:
            store.delete(f"{folder}/{name}")
            deleted.append(f"{folder}/{name}")
    return sorted(deleted)
