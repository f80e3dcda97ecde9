"""A throw-away PostgreSQL database on the machine's server, for the shared-state tests.

``PIPELINES_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) names
the server and a database to connect to for ``CREATE DATABASE``; each test session creates
``pipelines_test_<pid>_<token>`` and drops it at the end, and each test gets a schema of its
own in it (the URL's ``options=-csearch_path=...``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2

ADMIN_URL = os.environ.get(
    "PIPELINES_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _with_path(url: str, path: str, query: str = "") -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


@contextmanager
def temporary_database(prefix: str = "pipelines_test") -> Iterator[str]:
    """The URL of a new database, dropped (with its sessions) on exit."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = psycopg2.connect(ADMIN_URL, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield _with_path(ADMIN_URL, "/" + name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def new_schema(database_url: str) -> str:
    """A new schema in the database; the URL that puts it first on the search path."""
    schema = f"t_{secrets.token_hex(6)}"
    con = psycopg2.connect(database_url)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        con.close()
    path = urlsplit(database_url).path
    return _with_path(database_url, path, "options=" + quote(f"-csearch_path={schema}"))
