"""Where the lake's files live: a local directory (the embedded default) or an S3-compatible
bucket, behind one small interface.

A :class:`LakeStorage` names files by their path relative to the lake's root
(``order_items/dt=2024-01-01/data.parquet``) and answers what publication and verified reads
need: the location DuckDB reads (:meth:`~LakeStorage.uri`), a file's SHA-256, writing a
local file into place, listing a folder. :func:`lake_storage` picks the backend from the
root: ``s3://bucket/prefix`` goes through DuckDB's ``httpfs`` (credentials and endpoint
from the environment, :func:`pipelines.lake.extensions.s3_secret_from_env`), anything else
is a local directory.

Publication to and verified reads from a storage are in :mod:`pipelines.lake.stored`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
from pydantic import SecretStr

from pipelines.hashing import file_sha256
from pipelines.lake import s3client
from pipelines.lake.ducklake.connection import LakeCatalog
from pipelines.lake.extensions import keep_inherited, load_extensions, s3_secret_from_env
from pipelines.settings import Settings
from pipelines.sql import sql_str

LAKE_URL_ENV = "PIPELINES_LAKE_URL"
"""The environment variable of the ``lake_url`` setting (also read by dbt's plugin)."""


@dataclass(frozen=True)
class Listing:
    """What is directly under one folder of a storage: sub-folder names and file sizes."""

    folders: list[str]
    """Names of the sub-folders, sorted."""
    files: dict[str, int]
    """File name -> size in bytes, in name order."""


class LakeStorage(Protocol):
    @property
    def root(self) -> str:
        """The lake's root: a local folder or ``s3://bucket/prefix``."""
        ...

    def uri(self, rel: str) -> str:
        """Where DuckDB reads ``rel`` (a local path or an ``s3://`` URL)."""
        ...

    def sha256(self, rel: str) -> str | None:
        """``rel``'s SHA-256, or None when it does not exist."""
        ...

    def read_text(self, rel: str) -> str:
        """``rel``'s content as UTF-8 text."""
        ...

    def put(self, local: Path, rel: str) -> None:
        """Write the local file ``local`` at ``rel``, whole."""
        ...

    def listdir(self, rel: str) -> list[str]:
        """The names directly under folder ``rel`` (files and folders), sorted."""
        ...

    @property
    def versioned(self) -> bool:
        """Whether a partition's files are kept under content-addressed names
        (``data-<sha256>.parquet``): on an object store, where no rename swaps a folder."""
        ...

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make ``con`` able to read :meth:`uri` (the S3 secret, httpfs); local: nothing."""
        ...

    def delete(self, rel: str) -> None:
        """Remove ``rel`` if it exists."""
        ...

    def get(self, rel: str, local: Path) -> None:
        """Copy ``rel`` to the local file ``local`` (written beside it, then renamed)."""
        ...

    def scan(self, rel: str) -> Listing:
        """The folders and the files (with their sizes) directly under folder ``rel``."""
        ...


@dataclass(frozen=True)
class LocalStorage:
    root: str

    def _path(self, rel: str) -> Path:
        return Path(self.root) / rel

    def uri(self, rel: str) -> str:
        return str(self._path(rel))

    def sha256(self, rel: str) -> str | None:
        path = self._path(rel)
        return file_sha256(path) if path.is_file() else None

    def read_text(self, rel: str) -> str:
        return self._path(rel).read_text(encoding="utf-8")

    def put(self, local: Path, rel: str) -> None:
        target = self._path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.copyfile(local, staged)
        staged.replace(target)

    def listdir(self, rel: str) -> list[str]:
        folder = self._path(rel)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    @property
    def versioned(self) -> bool:
        return False

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        return None

    def delete(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def get(self, rel: str, local: Path) -> None:
        LocalStorage(str(local.parent)).put(self._path(rel), local.name)

    def scan(self, rel: str) -> Listing:
        folder = self._path(rel)
        if not folder.is_dir():
            return Listing([], {})
        entries = sorted(folder.iterdir())
        return Listing(
            [e.name for e in entries if e.is_dir()],
            {e.name: e.stat().st_size for e in entries if e.is_file()},
        )


@dataclass
class S3Storage:
    """A bucket (and prefix): DuckDB reads it through httpfs (:meth:`uri`, :meth:`prepare`);
    objects are written, read whole, hashed and deleted through an S3 client in streamed
    parts (:mod:`pipelines.lake.s3client`), so a large file never sits in memory."""

    root: str
    env: dict[str, str] | None = field(default=None, repr=False)  # S3 keys
    catalog: LakeCatalog | None = None
    """The DuckLake catalog that commits the lake's partitions; None: ``manifest.json``
    objects are the commits (a store without a catalog)."""
    _con: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _con_pid: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # verified reads hash on several threads
            if self._con is None or self._con_pid != os.getpid():  # none crosses a fork
                keep_inherited(self._con)
                config: dict[str, Any] = {
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                }
                con = duckdb.connect(config=config)
                self.prepare(con)
                self._con, self._con_pid = con, os.getpid()
            return self._con

    def _s3(self) -> Any:
        return s3client.shared_client(self.env)

    def _key(self, rel: str) -> tuple[str, str]:
        return s3client.split_url(self.uri(rel))

    @property
    def versioned(self) -> bool:
        return True

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        load_extensions(con, ["httpfs"])
        if not s3_secret_from_env(con, self.env):
            raise RuntimeError(
                f"lake at {self.root}: no S3 credentials; set AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY (and PIPELINES_S3_ENDPOINT for MinIO or moto)."
            )

    def get(self, rel: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        staged = local.with_name(f".{local.name}.{os.getpid()}")
        bucket, key = self._key(rel)
        self._s3().download_file(bucket, key, str(staged), Config=s3client.transfer_config())
        staged.replace(local)

    def delete(self, rel: str) -> None:
        bucket, key = self._key(rel)
        self._s3().delete_object(Bucket=bucket, Key=key)

    def scan(self, rel: str) -> Listing:
        bucket, key = self._key(rel)
        folders, files = s3client.list_level(self._s3(), bucket, key.rstrip("/"))
        return Listing(folders, files)

    def uri(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}"

    def sha256(self, rel: str) -> str | None:
        bucket, key = self._key(rel)
        client = self._s3()
        if not s3client.exists(client, bucket, key):
            return None
        digest = hashlib.sha256()
        for chunk in s3client.iter_chunks(client, bucket, key):
            digest.update(chunk)
        return digest.hexdigest()

    def read_text(self, rel: str) -> str:
        bucket, key = self._key(rel)
        return b"".join(s3client.iter_chunks(self._s3(), bucket, key)).decode("utf-8")

    def put(self, local: Path, rel: str) -> None:
        # one PUT, or a multipart upload completed at the end: the object appears whole or
        # not at all
        bucket, key = self._key(rel)
        self._s3().upload_file(str(local), bucket, key, Config=s3client.transfer_config())

    def listdir(self, rel: str) -> list[str]:
        prefix = self.uri(rel).rstrip("/") + "/"
        rows = self._connection().execute(f"SELECT file FROM glob({sql_str(prefix + '**')})")
        return sorted({f[len(prefix) :].split("/", 1)[0] for (f,) in rows.fetchall()})

    def read_texts(self, pattern: str) -> dict[str, str]:
        """Every object matching the glob ``pattern`` (relative), read in one query:
        relative name -> text."""
        prefix = self.root.rstrip("/") + "/"
        cur = self._connection().cursor()
        try:
            rows = cur.execute(
                f"SELECT filename, content FROM read_text({sql_str(prefix + pattern)})"
            ).fetchall()
        except duckdb.IOException:  # no object matches
            return {}
        finally:
            cur.close()
        return {name[len(prefix) :]: text for name, text in rows}


def lake_storage(
    root: str | Path, env: dict[str, str] | None = None, catalog: SecretStr | None = None
) -> LakeStorage:
    """The storage for a lake root: ``s3://…`` through httpfs, anything else a local folder.
    ``catalog`` (a DuckLake catalog URL or ``.ducklake`` path) makes an object store's
    commits DuckLake transactions; a local folder takes none."""
    text = str(root)
    if text.startswith("s3://"):
        if env is None:
            return _s3(text, catalog)
        return S3Storage(text, env, _catalog(catalog, text, env))
    if catalog is not None:
        raise ValueError(
            f"lake at {text} is a local folder: a DuckLake catalog (lake_catalog_url) needs "
            "the lake on an object store; set lake_url, or unset lake_catalog_url"
        )
    return LocalStorage(text)


def _catalog(url: SecretStr | None, root: str, env: dict[str, str] | None) -> LakeCatalog | None:
    return None if url is None else LakeCatalog(url, root, env)


@functools.lru_cache(maxsize=8)
def _s3(root: str, catalog: SecretStr | None) -> S3Storage:
    """One S3 storage (one httpfs connection, one attached catalog) per root and process."""
    return S3Storage(root, None, _catalog(catalog, root, None))


def lake_store(settings: Settings) -> LakeStorage:
    """Where ``settings`` keep the lake's partitions: ``lake_url`` when set (an object store,
    with the DuckLake catalog ``lake_catalog_url`` when set), else the local folder
    ``settings.lake``. Every reader and writer of the lake gets its store here."""
    return lake_storage(settings.lake_url or settings.lake, catalog=settings.lake_catalog_url)


def catalog_of(store: LakeStorage) -> LakeCatalog | None:
    """``store``'s DuckLake catalog, or None (a local folder, or a store without one)."""
    return store.catalog if isinstance(store, S3Storage) else None


def object_store(settings: Settings) -> LakeStorage | None:
    """The lake's object store when ``settings`` put the lake on one (``lake_url``), else
    None: what the stages hand over through the store is then kept on local disk."""
    store = lake_store(settings)
    return store if store.versioned else None
