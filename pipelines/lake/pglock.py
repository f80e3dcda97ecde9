"""A partition's writer lock as a PostgreSQL advisory lock (the ``lock_url`` setting).

For writers on machines that share no filesystem: the lock lives in the PostgreSQL every worker
reaches, keyed by the partition's table and folder name (:func:`pipelines.pgstate.lock_key`),
held on a session of its own. PostgreSQL releases it when that session ends, so a crashed or
killed writer never blocks the next one, as with ``flock``. The interface is the part of
``filelock.FileLock`` that :mod:`pipelines.lake.publish` uses (``acquire(timeout)`` raising
``filelock.Timeout``, ``release``, ``lock_file`` naming it).
"""

from __future__ import annotations

from typing import Any

from filelock import Timeout
from pydantic import SecretStr

from pipelines.pgstate import connect, display_url, lock_key


class AdvisoryLock:
    """The advisory lock of ``table``/``partition`` in the database at ``url``."""

    def __init__(self, url: SecretStr, table: str, partition: str):
        self.url = url
        self.key = lock_key(f"lake/partition/{table}/{partition}")
        self.lock_file = f"PostgreSQL advisory lock {self.key} at {display_url(url)}"
        self._con: Any = None

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (0: only if free at once)."""
        import psycopg2

        if self._con is None:
            self._con = connect(self.url, autocommit=True)
        try:
            with self._con.cursor() as cur:
                if timeout <= 0:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    if cur.fetchone()[0]:
                        return
                    raise Timeout(self.lock_file)
                cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{timeout:.3f}s",))
                cur.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        except psycopg2.errors.LockNotAvailable:
            self._close()
            raise Timeout(self.lock_file) from None

    def release(self) -> None:
        """Release the lock (closing the session releases it too)."""
        if self._con is None:
            return
        try:
            with self._con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        finally:
            self._close()

    def _close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            con.close()
