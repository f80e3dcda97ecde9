"""Atomic, idempotent publication of a lake partition, by one writer at a time.

A partition is built in a hidden staging folder next to its final place, then swapped in
with renames: readers see the old partition whole, briefly none, or the new one whole, never
a partial one. Re-running an interval replaces its partition. Writers call
:func:`publish_partition`, which does this for a local lake and, for a lake on an object
store (no rename there), writes content-addressed objects and then the manifest
(:mod:`pipelines.lake.stored`).

**One writer per partition.** Every writer (ingestion, the quality gate's quarantine) holds
the partition's lock, ``<lake>/.locks/<table>/<partition>.lock``, from its clean-up to its
publication (:func:`partition_lock`); lock files stay (waiters must share one file) and hold
no data. The lock is an OS file lock (``flock``, through ``filelock``) on
the lake's own filesystem, so it holds between processes, Airflow tasks and Celery workers
that share the lake: on one machine always (the embedded default; compose's workers share a
volume on one host), across machines on shared storage whose locks are coherent between
clients (NFSv4, CephFS, Lustre with ``flock``). A filesystem without file locks is an error
by name, never a silent fallback. Workers that share no filesystem set ``lock_url``: the lock
is then a PostgreSQL advisory lock per table and partition (:mod:`pipelines.lake.pglock`).
The kernel (or PostgreSQL, when the session ends) releases the lock when its process dies, so
a crashed run never blocks the next one. A second run of the same partition waits for the
lock, and fails with :class:`PartitionBusy` after its timeout.

**Clean-up removes only dead runs' leftovers.** Hidden ``.staging-*`` / ``.trash-*`` folders
left by crashed runs are invisible to readers; :func:`clean_leftovers` removes those of a
partition only while it holds (or can take at once) that partition's lock, so it never
touches the staging folder of a run that is alive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import SecretStr

from pipelines.lake.manifest import MANIFEST_NAME, Manifest
from pipelines.lake.partitions import Partition
from pipelines.lake.pglock import AdvisoryLock
from pipelines.lake.storage import LakeStorage
from pipelines.lake.stored import current, delete_stored_partition, publish_staged

log = logging.getLogger(__name__)

LOCKS_DIR = ".locks"
LEFTOVER_PREFIXES = (".staging-", ".trash-")
DEFAULT_LOCK_TIMEOUT = 3600.0
"""Seconds a writer waits for a partition another run is writing (one task timeout)."""


class PartitionBusy(RuntimeError):
    """Another run holds the partition's lock; the message names it and what to do."""


def _fsync_tree(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_file():
            with entry.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_tree_dir(folder)


def _lock(table_dir: Path, partition: str, lock_url: SecretStr | None) -> FileLock | AdvisoryLock:
    if lock_url is not None:
        return AdvisoryLock(lock_url, table_dir.name, partition)
    folder = table_dir.parent / LOCKS_DIR / table_dir.name
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(
        folder / f"{partition}.lock",
        thread_local=False,
        fallback_to_soft=False,  # a lock file that outlives a crash would block every run
    )


@contextmanager
def partition_lock(
    table_dir: Path,
    partition: str,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock_url: SecretStr | None = None,
) -> Iterator[None]:
    """Hold ``table_dir/partition``'s writer lock; wait up to ``timeout`` seconds for it
    (an advisory lock in PostgreSQL when ``lock_url`` is set, else a file lock)."""
    table_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(table_dir, partition, lock_url)
    where = f"{table_dir.name}/{partition}"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("%s: another run is writing it; waiting for %s", where, lock.lock_file)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise PartitionBusy(
                f"{where}: another run is writing this partition (it holds {lock.lock_file}; "
                f"waited {timeout:g} s). Let that run finish, then re-run this one; nothing "
                "was changed."
            ) from None
    try:
        yield
    finally:
        lock.release()


def _leftover_partition(name: str) -> str | None:
    """``dt=...`` of a ``.staging-<partition>-<token>`` / ``.trash-...`` folder name."""
    for prefix in LEFTOVER_PREFIXES:
        if name.startswith(prefix) and "-" in name[len(prefix) :]:
            return name[len(prefix) :].rsplit("-", 1)[0]
    return None


def clean_leftovers(
    table_dir: Path, held: str | None = None, lock_url: SecretStr | None = None
) -> list[Path]:
    """Remove staging/trash folders that no live run holds; returns what was removed.

    ``held`` is the partition whose lock the caller holds: its leftovers are dead. Those of
    other partitions are removed only if their lock is free at once (no run is writing them).
    """
    removed: list[Path] = []
    if not table_dir.is_dir():
        return removed
    by_partition: dict[str, list[Path]] = {}
    for entry in sorted(table_dir.iterdir()):
        partition = _leftover_partition(entry.name)
        if entry.is_dir() and partition is not None:
            by_partition.setdefault(partition, []).append(entry)
    for partition, folders in by_partition.items():
        if partition == held:
            removed += _remove(folders)
            continue
        lock = _lock(table_dir, partition, lock_url)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info(
                "%s/%s: a live run is writing it; its staging stays", table_dir.name, partition
            )
            continue
        try:
            removed += _remove(folders)
        finally:
            lock.release()
    return removed


def _remove(folders: list[Path]) -> list[Path]:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return folders


@contextmanager
def staged_partition(table_dir: Path, partition: str) -> Iterator[Path]:
    """Yield an empty staging folder; on success swap it in as ``table_dir/partition``.

    The caller holds :func:`partition_lock` for ``partition``.
    """
    table_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = table_dir / f".staging-{partition}-{token}"
    staging.mkdir()
    try:
        yield staging
        _fsync_tree(staging)
        final = table_dir / partition
        trash = table_dir / f".trash-{partition}-{token}"
        if final.exists():
            final.rename(trash)
        staging.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
        _fsync_tree_dir(table_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync_tree_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_root(store: LakeStorage) -> Path:
    """The folder holding ``.locks`` for ``store``'s partitions: a local lake's own folder;
    for an object store a folder of this machine's temp directory (the lock then holds
    between the writers of one machine only; see docs/table-format.md)."""
    if not store.versioned:
        return Path(store.root)
    digest = hashlib.sha256(store.root.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pipelines-lake-{os.getuid()}" / digest


@contextmanager
def locked(
    part: Partition,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock_url: SecretStr | None = None,
) -> Iterator[None]:
    """Hold ``part``'s writer lock (:func:`partition_lock`; with ``lock_url`` a PostgreSQL
    advisory lock, which holds across machines also for a lake on an object store)."""
    root = lock_root(part.store) / part.table
    with partition_lock(root, part.name, timeout=timeout, lock_url=lock_url):
        yield


def current_manifest(part: Partition) -> Manifest:
    """``part``'s manifest as published now (another run may have replaced it)."""
    if not part.store.versioned:
        return Manifest.read(part.folder)
    manifest = current(part.store, part.table, part.name)
    if manifest is None:
        raise FileNotFoundError(
            f"{part.table}/{part.name}: no published version on {part.store.root} (retention "
            "removed it, or it was never committed); re-run the task"
        )
    return manifest


@contextmanager
def publish_partition(
    store: LakeStorage, table: str, partition: str, scratch: Path | None = None
) -> Iterator[Path]:
    """Yield an empty local folder to build ``table/partition`` in (``data.parquet``,
    ``quarantine.parquet``, ``manifest.json``); on success publish it to ``store``.

    A local lake swaps the folder in (:func:`staged_partition`); an object store receives
    the files under content-addressed keys and the manifest last
    (:func:`pipelines.lake.stored.publish_staged`), building in a temporary folder under
    the worker's own ``scratch``. The caller holds :func:`partition_lock`.
    """
    if not store.versioned:
        with staged_partition(Path(store.root) / table, partition) as folder:
            yield folder
        return
    scratch = scratch or Path(tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"publish-{table}-", dir=scratch) as tmp:
        yield Path(tmp)
        publish_staged(store, table, partition, Path(tmp))


def remove_partition(part: Partition) -> Manifest | None:
    """Delete ``part`` from the lake (retention); the caller holds its lock. Locally its
    folder; on an object store its manifest first, then every object under it
    (:func:`pipelines.lake.stored.delete_stored_partition`). The manifest deleted, as it was
    published at that moment (another run may have replaced ``part``'s), or None when the
    partition was already gone."""
    if part.store.versioned:
        return delete_stored_partition(part.store, part.table, part.name)
    folder = part.folder
    if not (folder / MANIFEST_NAME).is_file():
        return None
    manifest = Manifest.read(folder)
    shutil.rmtree(folder)
    return manifest
