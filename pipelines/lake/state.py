"""The privacy state every worker must share, on the lake's object store (issue #19).

With ``lake_url`` set, workers share no disk, so the state that two workers must agree on
cannot stay in a worker's own folder:

* ``_state/keys.json``: the key registry (:mod:`pipelines.protection.registry`); with one
  registry per worker, two key rings could write different tokens under one key id unseen;
* ``_state/suppression.json``: the erased subjects (:mod:`pipelines.lake.suppression`); a
  worker that missed an erasure would ingest the person again;
* ``_state/dp_ledger.json`` and ``_state/representativeness/...``: the DP budget spent and
  the releases made (:mod:`pipelines.privacy.dp`, :mod:`pipelines.privacy.representativeness`);
  a budget must never be spent twice.

Each is one small object, written whole by one PUT (readers see the old or the new text).
A read-modify-write holds a PostgreSQL advisory lock (the ``lock_url`` setting, as the
partition locks, :mod:`pipelines.lake.pglock`); without ``lock_url`` an update is refused
(:class:`StateLockRequired`): a file lock holds on one machine only, so two workers would
silently overwrite each other's update. Reads need no lock.

Without ``lake_url`` (the embedded default) nothing changes: the same local files as before
(:class:`pipelines.statefile.LocalStateFile`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import SecretStr

from pipelines.lake import s3client
from pipelines.lake.pglock import AdvisoryLock
from pipelines.lake.storage import S3Storage, lake_store
from pipelines.protection.registry import REGISTRY_NAME, KeyRegistry
from pipelines.settings import Settings
from pipelines.statefile import LocalStateFile, StateFile

PREFIX = "_state"
LOCK_TIMEOUT = 3600.0
"""Seconds an update waits for another worker's (one task timeout, as the partition locks)."""


class StateLockRequired(RuntimeError):
    """An update of the shared state on an object store without ``lock_url``."""


class StateBusy(RuntimeError):
    """Another worker held the state's lock for longer than the timeout."""


def _client(store: S3Storage) -> Any:
    return s3client.shared_client(store.env)


@contextmanager
def _advisory(store: S3Storage, name: str, lock_url: SecretStr | None) -> Iterator[None]:
    where = store.uri(f"{PREFIX}/{name}")
    if lock_url is None:
        raise StateLockRequired(
            f"{where}: updating this shared state needs a lock that holds across machines; "
            "set lock_url (PIPELINES_LOCK_URL, a postgresql:// URL every worker reaches). "
            "A file lock would hold on one machine only and two workers could overwrite each "
            "other's update. Nothing was changed."
        )
    lock = AdvisoryLock(lock_url, PREFIX, name)
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout:
        raise StateBusy(
            f"{where}: another worker holds its lock ({lock.lock_file}; waited "
            f"{LOCK_TIMEOUT:g} s). Let it finish, then re-run; nothing was changed."
        ) from None
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class StoreStateFile:
    """``_state/<name>`` on the object store, locked in PostgreSQL at ``lock_url``."""

    store: S3Storage
    name: str
    lock_url: SecretStr | None

    @property
    def where(self) -> str:
        return self.store.uri(f"{PREFIX}/{self.name}")

    def read(self) -> str | None:
        from botocore.exceptions import ClientError

        bucket, key = s3client.split_url(self.where)
        try:
            body = _client(self.store).get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        try:
            return bytes(body.read()).decode("utf-8")
        finally:
            body.close()

    def locked(self) -> AbstractContextManager[None]:
        return _advisory(self.store, self.name, self.lock_url)

    def write(self, text: str) -> None:
        bucket, key = s3client.split_url(self.where)
        _client(self.store).put_object(
            Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/json"
        )


def shared_store(settings: Settings) -> S3Storage | None:
    """The object store holding the shared state, or None for the embedded default."""
    store = lake_store(settings)
    return store if isinstance(store, S3Storage) else None


def state_file(
    settings: Settings, name: str, local: Path, local_lock: Path | None = None
) -> StateFile:
    """The state ``name``: ``_state/<name>`` on the lake's object store, else the local file
    ``local`` (locked by ``local_lock``, default ``.<file name>.lock`` beside it)."""
    store = shared_store(settings)
    if store is None:
        return LocalStateFile(local, local_lock)
    return StoreStateFile(store, name, settings.lock_url)


def state_lock(settings: Settings, name: str, local_lock: Path) -> AbstractContextManager[object]:
    """An exclusive lock named ``name`` for a read-modify-write over several state files:
    the file lock ``local_lock``, or with ``lake_url`` the advisory lock (``lock_url``)."""
    store = shared_store(settings)
    if store is None:
        local_lock.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(local_lock, thread_local=False)
    return _advisory(store, name, settings.lock_url)


def key_registry(settings: Settings) -> KeyRegistry:
    """The lake's key registry: ``<lake_dir>/_keys.json``, or ``_state/keys.json`` on the
    lake's object store."""
    return KeyRegistry(state_file(settings, "keys.json", settings.lake / REGISTRY_NAME))
