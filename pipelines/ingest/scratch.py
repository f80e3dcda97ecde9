"""The scratch folder an ingestion's staging instance may spill to, and cleaning up after
killed runs.

Each run makes ``<data>/tmp/ingest-<table>-<token>/`` and holds an exclusive ``flock`` on
``ingest-<table>-<token>.lock`` next to it, taken *before* the folder exists, for as long as it
runs; the kernel drops the lock when the process dies, however it dies. Before making its own,
a run removes every ``ingest-*`` folder whose lock it can take (its run is gone), and folders
without a lock file (made before locks were used) once they are a day old. A folder in use by
a live run, on this machine or another sharing the folder, is never touched.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "ingest-"
_LOCKLESS_AGE = 24 * 3600
"""Seconds after which a folder without a lock file counts as left over."""


def _lock_file(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive lock, or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def remove_stale(root: Path) -> list[Path]:
    """Remove the scratch folders of runs that are gone; returns them."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.glob(PREFIX + "*")):
        if not folder.is_dir():
            continue
        lock = _lock_file(folder)
        if not lock.exists():
            if time.time() - folder.stat().st_mtime < _LOCKLESS_AGE:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            continue
        fd = _try_lock(lock)
        if fd is None:
            continue  # a live run holds it
        try:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        removed.append(folder)
    for lock in sorted(root.glob(PREFIX + "*.lock")):  # a run killed before its mkdir
        if lock.with_suffix("").exists() or (fd := _try_lock(lock)) is None:
            continue
        lock.unlink(missing_ok=True)
        os.close(fd)
    return removed


@contextmanager
def scratch_folder(root: Path, table: str) -> Iterator[Path]:
    """A new, locked scratch folder under ``root`` for ingesting ``table``, removed at the end;
    stale folders of killed runs are removed first."""
    root.mkdir(parents=True, exist_ok=True)
    remove_stale(root)
    folder = root / f"{PREFIX}{table}-{uuid.uuid4().hex[:12]}"
    lock = _lock_file(folder)
    fd = _try_lock(lock)
    assert fd is not None, lock  # a fresh name: nobody else can hold it
    try:
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)
