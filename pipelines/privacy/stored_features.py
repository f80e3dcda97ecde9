"""Erasure in the feature releases published on the lake's object store (``lake_url``).

A release published with the lake on a store has its snapshots and release (a file, or a
row of the DuckLake catalog) there (:mod:`pipelines.features.stored`); another machine
serves them from its own cache. An erasure on any worker therefore first copies every
published release and its snapshots into its own cache (:func:`pull_releases`), rewrites
them there as it does locally (:mod:`pipelines.privacy.derived`,
:mod:`pipelines.privacy.rebuild`), then publishes each release that changed again through
the same commit (its new snapshots first, then the release file or the catalog
transaction), and deletes the superseded snapshot objects, which still hold the person's
rows (:func:`push_releases`); with a catalog, the snapshots from which a time-travel read
still reaches them are expired. A reader holding the old release then fails to fetch the
old snapshot (by name) instead of serving it. With a local lake nothing is done.
"""

from __future__ import annotations

from datetime import date

from pipelines.features.paths import release_file
from pipelines.features.snapshots import read_release
from pipelines.features.stored import (
    decided_snapshots,
    fetch_release,
    fetch_snapshot,
    forget_snapshots,
    publish_release,
    release_dates,
)
from pipelines.features.stored import snapshot_rel as stored_snapshot_rel
from pipelines.hashing import file_sha256
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings

Published = dict[str, tuple[str, dict[str, str]]]
"""as_of -> (SHA-256 of the release file, table -> decided snapshot SHA-256)."""


def _decided(settings: Settings, as_of: str) -> dict[str, str]:
    return decided_snapshots(read_release(settings, date.fromisoformat(as_of)).features)


def pull_releases(settings: Settings) -> Published:
    """Copy every release on the store, and its snapshots, into the local cache."""
    store = lake_store(settings)
    if not store.versioned:
        return {}
    out: Published = {}
    for text in release_dates(store):
        as_of = date.fromisoformat(text)
        path = fetch_release(settings, as_of)
        assert path is not None
        release = read_release(settings, as_of)
        for table in sorted(release.features):
            fetch_snapshot(settings, table, release)
        out[as_of.isoformat()] = (file_sha256(path), _decided(settings, as_of.isoformat()))
    return out


def push_releases(settings: Settings, pulled: Published) -> list[str]:
    """Publish again each pulled release the erasure changed; delete its superseded snapshot
    objects (and, with a catalog, expire the snapshots that reach them). The deleted
    objects, relative to the lake root."""
    store = lake_store(settings)
    deleted: list[str] = []
    for as_of, (release_sha, before) in sorted(pulled.items()):
        if file_sha256(release_file(settings, date.fromisoformat(as_of))) == release_sha:
            continue
        publish_release(settings, read_release(settings, date.fromisoformat(as_of)))
        after = _decided(settings, as_of)
        for table, sha in sorted(before.items()):
            if after.get(table) != sha:
                rel = stored_snapshot_rel(table, as_of, sha)
                store.delete(rel)
                deleted.append(rel)
    forget_snapshots(settings, deleted)
    return deleted
