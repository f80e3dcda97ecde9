"""Atomic, idempotent publication of a lake partition.

A partition is built in a hidden staging folder next to its final place, then swapped in
with renames: readers see the old partition whole, briefly none, or the new one whole, never
a partial one. Re-running an interval replaces its partition. Leftovers of a crash (hidden
``.staging-*`` / ``.trash-*`` folders) are invisible to readers and removed by the next run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync_tree(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_file():
            with entry.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_leftovers(table_dir: Path) -> list[Path]:
    """Remove staging/trash folders left by crashed runs; returns what was removed."""
    removed = []
    if table_dir.is_dir():
        for entry in table_dir.iterdir():
            if entry.is_dir() and entry.name.startswith((".staging-", ".trash-")):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextmanager
def staged_partition(table_dir: Path, partition: str) -> Iterator[Path]:
    """Yield an empty staging folder; on success swap it in as ``table_dir/partition``."""
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
