"""Feature releases on the lake's object store, for workers and readers that share no disk.

When the lake is on an object store (``lake_url``), publishing a release also puts its
snapshots there, content-addressed, and the release file last (the commit):

``<lake_url>/_features/<table>/as_of=<date>/data-<sha256>.parquet``
``<lake_url>/_features/releases/as_of=<date>.json``

With the lake's DuckLake catalog (``lake_catalog_url``) the commit is a catalog transaction
instead (:mod:`pipelines.lake.ducklake.releases`): each snapshot object is registered in the
DuckLake table ``features__<table>`` (another engine reads it by SQL) and the release JSON is
the as-of date's row of ``_pipelines_releases``; no release file is written, and readers
follow the catalog (a re-published date replaces the cached copy; :func:`releases_at` reads
the releases as of a snapshot). Deleting snapshot objects (an erasure) expires the snapshots
that still reach them (:func:`forget_snapshots`).

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

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.features.paths import release_file, snapshot_file
from pipelines.features.release import Release
from pipelines.hashing import file_sha256
from pipelines.lake.ducklake import releases as catalog_releases
from pipelines.lake.storage import LakeStorage, catalog_of, object_store
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


def decided_snapshots(features: dict[str, Any]) -> dict[str, str]:
    """table -> the SHA-256 its publication decided on (the snapshot object's name), from a
    release's ``features``."""
    return {
        table: str(info["decided_sha256"])
        for table, info in sorted(features.items())
        if isinstance(info, dict) and info.get("decided_sha256")
    }


def _files_of(store: LakeStorage) -> catalog_releases.ReleaseFiles:
    """A release JSON -> {table: URI of its snapshot object on ``store``} (read from the
    JSON itself, so a release written by another version of the code still parses)."""

    def files(text: str) -> dict[str, str]:
        data = json.loads(text)
        return {
            table: store.uri(snapshot_rel(table, str(data["as_of"]), sha))
            for table, sha in decided_snapshots(data.get("features") or {}).items()
        }

    return files


def publish_release(settings: Settings, release: Release) -> bool:
    """Put ``release``'s decided snapshots on the object store, then commit it: the release
    file last, or with a DuckLake catalog one catalog transaction (the snapshots registered
    in ``features__<table>``, the release a row of ``_pipelines_releases``; no release file
    is written). False (nothing done) with a local lake."""
    store = object_store(settings)
    if store is None:
        return False
    as_of = date.fromisoformat(release.as_of)
    for table, sha in decided_snapshots(release.features).items():
        store.put(snapshot_file(settings, table, as_of), snapshot_rel(table, release.as_of, sha))
    catalog = catalog_of(store)
    if catalog is None:
        store.put(release_file(settings, as_of), release_rel(release.as_of))  # the commit
        return True
    entry = catalog_releases.ReleaseEntry(
        release.as_of, release.release_id, release.to_json(), release.run_id,
        {"status": release.status},
    )  # fmt: skip
    catalog_releases.commit_release(catalog, entry, _files_of(store))
    return True


def _cache_text(path: Path, text: str) -> bool:
    """Make ``path`` hold ``text`` (replaced whole, and only when it differs); whether it
    was written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.fetch-{os.getpid()}")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return True


def fetch_release(settings: Settings, as_of: date) -> Path | None:
    """Copy the release as of ``as_of`` from the object store (with a catalog: the
    catalog's row) into the local cache; its path, or None with a local lake or when the
    store has none."""
    store = object_store(settings)
    if store is None:
        return None
    catalog = catalog_of(store)
    if catalog is not None:
        text = catalog_releases.release(catalog, as_of.isoformat())
        if text is None:
            return None
        _cache_text(release_file(settings, as_of), text)
        return release_file(settings, as_of)
    if store.sha256(release_rel(as_of.isoformat())) is None:
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
    """Copy the releases on the object store that the local cache lacks (with a catalog:
    also those whose cached copy differs from the catalog's, as after a re-publication);
    how many."""
    store = object_store(settings)
    if store is None:
        return 0
    catalog = catalog_of(store)
    if catalog is not None:
        texts = catalog_releases.releases(catalog)
        return sum(
            _cache_text(release_file(settings, date.fromisoformat(a)), t) for a, t in texts.items()
        )
    copied = 0
    for as_of in release_dates(store):
        path = release_file(settings, date.fromisoformat(as_of))
        if not path.is_file():
            store.get(release_rel(as_of), path)
            copied += 1
    return copied


def release_dates(store: LakeStorage) -> list[str]:
    """The as-of dates of the releases published on ``store`` (its catalog's rows, or its
    release files), oldest first."""
    catalog = catalog_of(store)
    if catalog is not None:
        return sorted(catalog_releases.releases(catalog))
    names = store.listdir(f"{PREFIX}/releases")
    return [
        n[len("as_of=") : -len(".json")]
        for n in names
        if n.startswith("as_of=") and n.endswith(".json")
    ]


def releases_at(settings: Settings, snapshot: int) -> list[Release]:
    """The releases published as of the DuckLake catalog's ``snapshot`` (time travel), oldest
    first; nothing is cached. Needs the lake's catalog (``lake_catalog_url``)."""
    store = object_store(settings)
    catalog = None if store is None else catalog_of(store)
    if catalog is None:
        raise ValueError(
            f"releases as of snapshot {snapshot} need the lake's DuckLake catalog "
            "(lake_catalog_url); this lake keeps only the current release of each date"
        )
    texts = catalog_releases.releases(catalog, snapshot)
    return [Release.from_json(texts[a]) for a in sorted(texts)]


def forget_snapshots(settings: Settings, deleted: list[str]) -> list[int]:
    """With a DuckLake catalog: expire the snapshots from which a read of a
    ``features__<table>`` still reaches the ``deleted`` snapshot objects (relative names);
    the snapshots expired. Without one: nothing (no history is kept)."""
    store = object_store(settings)
    catalog = None if store is None else catalog_of(store)
    if store is None or catalog is None or not deleted:
        return []
    uris = [store.uri(rel) for rel in deleted]
    return catalog_releases.expire_referencing(catalog, uris, _files_of(store))


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
