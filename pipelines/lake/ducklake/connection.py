"""One attached DuckLake catalog per process: the connection, and transactions that retry.

The catalog is PostgreSQL (``postgresql://...``, many writers on many machines) or a local
``.ducklake`` file (one process at a time: DuckDB locks the file). Data files stay where the
lake's storage put them; ``DATA_PATH`` (``<store root>/_ducklake/``, a reserved name that
:func:`pipelines.lake.partitions.tables` skips) only holds what DuckLake writes itself
(delete files too large to inline).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb
from pydantic import SecretStr

from pipelines.lake.extensions import keep_inherited, load_extensions, s3_secret_from_env
from pipelines.pgstate import display_url, secret
from pipelines.sql import sql_str

ALIAS = "pipelines_lake"
"""The name the catalog is attached as in the catalog's own connection."""
MANIFESTS = "_pipelines_manifests"
"""The table beside the lake's tables: one row per current partition, its manifest JSON."""
DATA_FOLDER = "_ducklake"
RETRIES = 5

T = TypeVar("T")


class CatalogError(RuntimeError):
    """The DuckLake catalog cannot be attached or used; the message says what to do."""


class CatalogConflict(CatalogError):
    """A commit kept conflicting with other writers' commits; nothing of it is visible."""


@dataclass
class LakeCatalog:
    """The DuckLake catalog at ``url`` for the lake stored at ``root`` (S3 credentials from
    ``env``, default the environment)."""

    url: SecretStr
    root: str
    env: Mapping[str, str] | None = field(default=None, repr=False)  # S3 keys
    _con: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _pid: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def display(self) -> str:
        """The catalog's name for messages (no password)."""
        text = secret(self.url)
        return display_url(text) if "://" in text else text

    @property
    def location(self) -> str:
        """The catalog's name in lineage and the warehouse's registry, without any
        credential: ``ducklake:postgresql://host:port/db`` (no user, password or options),
        or ``ducklake:<absolute path>`` of a ``.ducklake`` file."""
        text = secret(self.url)
        if "://" not in text:
            return f"ducklake:{Path(text).absolute()}"
        parts = urlsplit(text)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return f"ducklake:{parts.scheme}://{host}{parts.path}"

    def row_location(self, table: str, partition: str) -> str:
        """Where ``table/partition``'s manifest row is: :attr:`location`
        ``#_pipelines_manifests/<table>/<partition>``."""
        return f"{self.location}#{MANIFESTS}/{table}/{partition}"

    def scrub(self, text: str) -> str:
        """``text`` with the catalog's URL shown as :attr:`display` and no password left."""
        url = secret(self.url)
        text = text.replace(url, self.display)
        for word in _passwords(url):
            text = text.replace(word, "***")
        return text

    @contextlib.contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor, closed after; an error naming the catalog's URL (DuckDB names it when
        a reconnect fails) is raised again, of its type, without the password."""
        cur = self.cursor()
        try:
            yield cur
        except (duckdb.Error, CatalogError) as exc:
            text = self.scrub(str(exc))
            if text == str(exc):
                raise
            raise type(exc)(text) from None
        finally:
            cur.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of this process's connection (one per call: cursors are per thread)."""
        with self._lock:
            if self._con is None or self._pid != os.getpid():  # a forked child attaches anew
                keep_inherited(self._con)
                self._con, self._pid = self._attach(), os.getpid()
            return self._con.cursor()

    def _attach(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, Any] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        con = duckdb.connect(config=config)
        text = secret(self.url)
        postgres = "://" in text
        load_extensions(con, ["ducklake", "httpfs", *(["postgres"] if postgres else [])])
        s3_secret_from_env(con, self.env)
        target = f"ducklake:postgres:{text}" if postgres else f"ducklake:{text}"
        data_path = f"{self.root.rstrip('/')}/{DATA_FOLDER}/"
        statement = f"ATTACH {sql_str(target)} AS {ALIAS} (DATA_PATH {sql_str(data_path)})"
        try:
            retrying(lambda: con.execute(statement))
            retrying(lambda: _create_manifests(con))
        except duckdb.Error as exc:
            con.close()
            raise CatalogError(
                f"cannot attach the lake's DuckLake catalog at {self.display} "
                f"({type(exc).__name__}); check lake_catalog_url and that its database runs"
            ) from None
        return con

    def transaction(self, what: str, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work`` in one catalog transaction; on a conflict with another writer's
        commit, roll back and run it again, up to :data:`RETRIES` times."""
        for attempt in range(RETRIES):
            with self.session() as cur:
                try:
                    cur.execute("BEGIN")
                    result = work(cur)
                    cur.execute("COMMIT")
                    return result
                except duckdb.TransactionException:
                    _rollback(cur)
                except BaseException:
                    _rollback(cur)
                    raise
            time.sleep(0.05 * 2**attempt)
        raise CatalogConflict(
            f"{what}: the commit to the DuckLake catalog at {self.display} conflicted with "
            f"other writers {RETRIES} times; nothing of it is visible. Re-run the task."
        )


def _passwords(url: str) -> set[str]:
    """The password of a ``postgresql://`` URL as written and decoded, and any
    ``password=`` option's."""
    parts = urlsplit(url)
    raw = parts.netloc.rpartition("@")[0].partition(":")[2]
    options = {v for k, v in parse_qsl(parts.query) if k == "password"}
    return {w for w in (raw, unquote(raw), *options) if w}


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a failed commit already ended it
        cur.execute("ROLLBACK")


def retrying(work: Callable[[], object]) -> None:
    """Run ``work``; on a DuckDB error run it again, up to :data:`RETRIES` times, then raise
    (several processes creating the catalog or one of its tables at once: one creates it, the
    others then find it; PostgreSQL reports their clash as a unique or serialisation error,
    not a conflict)."""
    for attempt in range(RETRIES):
        try:
            work()
            return
        except duckdb.Error:
            if attempt == RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)


def _create_manifests(con: Any) -> None:
    """On a new catalog: the manifests table, and no inlined data in the lake's tables (a
    delete of every row of an inlined-delete file would leave it listed, and read, after
    its object is deleted; not inlined, the file ends). Manifest rows stay inlined."""
    if has_table(con, MANIFESTS):
        return
    con.execute(f"CALL ducklake_set_option({sql_str(ALIAS)}, 'data_inlining_row_limit', 0)")
    con.execute(
        f'CREATE TABLE IF NOT EXISTS {ALIAS}.{MANIFESTS} ("table" VARCHAR, '
        '"partition" VARCHAR, manifest VARCHAR, data_uri VARCHAR, '
        "quarantine_uri VARCHAR)"
    )
    con.execute(
        f"CALL ducklake_set_option({sql_str(ALIAS)}, 'data_inlining_row_limit', 1000, "
        f"table_name => {sql_str(MANIFESTS)})"
    )


def has_table(con: Any, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
        [ALIAS, name],
    ).fetchone()
    return bool(row[0])
