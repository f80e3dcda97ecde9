"""Erasure in the feature releases published on the lake's object store (``lake_url``).

A release published with the lake on a store has its snapshots and release file there
(:mod:`pipelines.features.stored`); another machine serves them from its own cache. An
erasure on any worker therefore first copies every published release and its snapshots into
its own cache (:func:`pull_releases`), rewrites them there as it does locally
(:mod:`pipelines.privacy.derived`, :mod:`pipelines.privacy.rebuild`), then publishes each
release that changed again, its new snapshots first and the release file last, and deletes
the superseded snapshot objects, which still hold the person's rows (:func:`push_releases`).
A reader holding the old release file then fails to fetch the old snapshot (by name) instead
of serving it. With a local lake nothing is done.
"""

from __future__ import annotations

from datetime import date

from pipelines.features.paths import release_file
from pipelines.features.snapshots import read_release
from pipelines.features.stored import PREFIX, fetch_release, fetch_snapshot, publish_release
from pipelines.features.stored import snapshot_rel as stored_snapshot_rel
from pipelines.hashing import file_sha256
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings

Published = dict[str, tuple[str, dict[str, str]]]
"""as_of -> (SHA-256 of the release file, table -> decided snapshot SHA-256)."""


def _decided(settings: Settings, as_of: str) -> dict[str, str]:
    release = read_release(settings, date.fromisoformat(as_of))
    return {
        table: str(info["decided_sha256"])
        for table, info in release.features.items()
        if isinstance(info, dict) and info.get("decided_sha256")
    }


def pull_releases(settings: Settings) -> Published:
    """Copy every release on the store, and its snapshots, into the local cache."""
    store = lake_store(settings)
    if not store.versioned:
        return {}
    out: Published = {}
    for name in store.listdir(f"{PREFIX}/releases"):
        if not (name.startswith("as_of=") and name.endswith(".json")):
            continue
        as_of = date.fromisoformat(name[len("as_of=") : -len(".json")])
        path = fetch_release(settings, as_of)
        assert path is not None
        release = read_release(settings, as_of)
        for table in sorted(release.features):
            fetch_snapshot(settings, table, release)
        out[as_of.isoformat()] = (file_sha256(path), _decided(settings, as_of.isoformat()))
    return out


def push_releases(settings: Settings, pulled: Published) -> list[str]:
    """Publish again each pulled release the erasure changed; delete its superseded snapshot
    objects. The deleted objects, relative to the lake root."""
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
    return deleted
