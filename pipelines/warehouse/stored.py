"""The warehouse and its dbt docs site on the lake's object store, for workers that share no
disk (issue #19).

With the lake on an object store (``lake_url``), a successful feature build puts the DuckDB
warehouse there under its content hash, then a small pointer naming it (the commit; readers
follow the pointer only):

``<lake_url>/_warehouse/warehouse-<sha256>.duckdb``
``<lake_url>/_warehouse/current.json``  ``{"file", "sha256", "bytes", "release_id", "as_of"}``

A task that reads or extends the warehouse on another worker (the next build, ``feature_docs``)
first makes its local ``settings.warehouse`` a copy of the pointed file (:func:`pull_warehouse`:
nothing is copied when the local file already has that hash; a copy is verified before it
replaces the local file). A push deletes the warehouse objects older than the one it
replaces. Uploads and downloads stream in parts (boto3 multipart), so a
warehouse of several GB never sits in memory. The dbt docs site goes to ``_reports/dbt/``
(:func:`push_docs`), its digest file last. With a local lake every function does nothing: the
embedded default keeps its one local warehouse.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.hashing import file_sha256
from pipelines.lake.publish import lock_root, partition_lock
from pipelines.lake.storage import LakeStorage, object_store
from pipelines.settings import Settings
from pipelines.warehouse.build import connect
from pipelines.warehouse.docs_inputs import DIGEST_FILE, site_digest

PREFIX = "_warehouse"
POINTER = f"{PREFIX}/current.json"
DOCS_PREFIX = "_reports/dbt"
DOCS_FILES = ("index.html", "manifest.json", "catalog.json")
"""The site's files, put before its digest file (``.inputs.sha256``, the commit)."""


class StoredWarehouseError(RuntimeError):
    """The warehouse object on the store does not match its pointer; the local copy is kept."""


def warehouse_rel(sha256: str) -> str:
    return f"{PREFIX}/warehouse-{sha256}.duckdb"


def _put_text(store: LakeStorage, text: str, rel: str, scratch: Path) -> None:
    staged = scratch.with_name(f".{scratch.name}.{os.getpid()}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
        store.put(staged, rel)
    finally:
        staged.unlink(missing_ok=True)


@contextmanager
def warehouse_lock(settings: Settings) -> Iterator[None]:
    """Hold it from pulling the warehouse to pushing it again (a build, an erasure): two
    writers on different machines would otherwise each push their own copy, the later one
    undoing the other (an erasure undone by a build that pulled before it). A PostgreSQL
    advisory lock with ``lock_url``, else this machine's file lock; nothing with a local lake
    (one DuckDB file, one writing process)."""
    store = object_store(settings)
    if store is None:
        yield
        return
    with partition_lock(lock_root(store) / PREFIX, "warehouse", lock_url=settings.lock_url):
        yield


def push_warehouse(
    settings: Settings, *, release_id: str, as_of: str, keep_previous: bool = True
) -> dict[str, Any] | None:
    """Put the local warehouse on the object store, then the pointer naming it; the pointer,
    or None with a local lake. Call it under :func:`warehouse_lock`. ``keep_previous=False``
    (an erasure) deletes every other warehouse object, the one just replaced included."""
    store = object_store(settings)
    if store is None:
        return None
    previous = current_warehouse(settings)
    with connect(settings) as con:  # everything in the file itself, no write-ahead log beside
        con.execute("CHECKPOINT")
    local = settings.warehouse
    sha = file_sha256(local)
    store.put(local, warehouse_rel(sha))
    pointer: dict[str, Any] = {
        "file": warehouse_rel(sha),
        "sha256": sha,
        "bytes": local.stat().st_size,
        "release_id": release_id,
        "as_of": as_of,
        "pushed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _put_text(store, json.dumps(pointer, indent=2, sort_keys=True) + "\n", POINTER, local)
    kept = str(previous["file"]) if previous and keep_previous else ""
    _prune(store, keep={warehouse_rel(sha), kept})
    return pointer


def _prune(store: LakeStorage, keep: set[str]) -> None:
    """Delete the warehouse objects other than ``keep`` (the current one and the one it
    replaced, which a reader that read the old pointer may still be copying): a warehouse
    of several GB per build would otherwise pile up."""
    for name in store.listdir(PREFIX):
        rel = f"{PREFIX}/{name}"
        if name.startswith("warehouse-") and name.endswith(".duckdb") and rel not in keep:
            store.delete(rel)


def current_warehouse(settings: Settings) -> dict[str, Any] | None:
    """The pointer on the object store (None: a local lake, or no build pushed yet)."""
    store = object_store(settings)
    if store is None or store.sha256(POINTER) is None:
        return None
    pointer: dict[str, Any] = json.loads(store.read_text(POINTER))
    return pointer


def pull_warehouse(settings: Settings) -> dict[str, Any] | None:
    """Make the local warehouse the one the store's pointer names, unless it already is
    (same SHA-256); the pointer, or None with a local lake or before the first push (the
    local warehouse, if any, is then left as it is)."""
    store = object_store(settings)
    pointer = current_warehouse(settings)
    if store is None or pointer is None:
        return None
    local = settings.warehouse
    if local.is_file() and file_sha256(local) == pointer["sha256"]:
        return pointer
    local.parent.mkdir(parents=True, exist_ok=True)
    staged = local.with_name(f".{local.name}.pull-{os.getpid()}")
    try:
        store.get(pointer["file"], staged)
        if file_sha256(staged) != pointer["sha256"]:
            raise StoredWarehouseError(
                f"{store.uri(pointer['file'])} does not match {store.uri(POINTER)} "
                f"(release {pointer.get('release_id')}); the local warehouse {local} was kept. "
                "Re-run build_features to push a good warehouse"
            )
        # a write-ahead log of the old file must never be replayed onto the new one
        local.with_name(local.name + ".wal").unlink(missing_ok=True)
        os.replace(staged, local)
    finally:
        staged.unlink(missing_ok=True)
    return pointer


def push_docs(settings: Settings, site: Path) -> bool:
    """Put the dbt docs site at ``site`` on the object store under ``_reports/dbt/`` (its
    files, then its digest file), unless the store already has a site of that digest; False
    with a local lake or when nothing was put."""
    store = object_store(settings)
    digest = site_digest(site)
    if store is None or digest is None:
        return False
    rel = f"{DOCS_PREFIX}/{DIGEST_FILE}"
    if store.sha256(rel) is not None and store.read_text(rel).strip() == digest:
        return False
    for name in DOCS_FILES:
        store.put(site / name, f"{DOCS_PREFIX}/{name}")
    store.put(site / DIGEST_FILE, rel)
    return True
