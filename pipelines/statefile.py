"""Small state files every writer must share: the lake's key registry, the suppression list
of erased subjects, the DP ledger and its releases.

Each is read whole and replaced whole, and a read-modify-write holds an exclusive lock:

    with state.locked():
        text = state.read()
        state.write(changed(text))

:class:`LocalStateFile` is the embedded default: a local file, replaced by a rename, under a
file lock (``flock``) beside it. With the lake on an object store (``lake_url``) the state
is an object under the store's ``_state/`` prefix, locked in PostgreSQL
(:class:`pipelines.lake.state.StoreStateFile`), so workers that share no disk share it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from filelock import FileLock


class StateFile(Protocol):
    @property
    def where(self) -> str:
        """Where the state is (a path or a URL), for messages."""
        ...

    def read(self) -> str | None:
        """The whole text, or None when nothing was written yet."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the exclusive lock of every writer of this state."""
        ...

    def write(self, text: str) -> None:
        """Replace the whole text at once (readers see the old or the new); call while
        :meth:`locked`."""
        ...


@dataclass(frozen=True)
class LocalStateFile:
    """A local file, locked by ``lock`` (default: ``.<name>.lock`` beside it)."""

    path: Path
    lock: Path | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    @contextmanager
    def locked(self) -> Iterator[None]:
        lock = self.lock or self.path.with_name(f".{self.path.name}.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock, thread_local=False):
            yield

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
