"""Shared small state in PostgreSQL: connections, safe names and advisory lock keys.

The audit log (``audit_url``), the lineage events (``lineage_url``) and the partition locks
(``lock_url``) move from local files to PostgreSQL when their setting holds a
``postgresql://`` URL, so workers that share no disk share them. The URL may carry a password:
it stays a :class:`~pydantic.SecretStr` until :func:`connect` opens it, and messages name it
by :func:`display_url` (no password). Tables are created on first use (``CREATE TABLE IF NOT
EXISTS``); the URL's ``options=-csearch_path=...`` chooses the schema.

``psycopg2`` is imported inside :func:`connect`, so the embedded default never loads it.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

SCHEMES = ("postgresql", "postgres")


class StateStoreError(RuntimeError):
    """The PostgreSQL state store cannot be reached or used; the message names it without
    its password."""


def secret(url: SecretStr | str) -> str:
    return url.get_secret_value() if isinstance(url, SecretStr) else url


def check_url(url: str, setting: str) -> str:
    """``url`` if it is a ``postgresql://`` URL, else a ValueError naming ``setting``."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ValueError(
            f"{setting} must be a postgresql:// URL (got scheme {scheme or 'none'!r}); "
            "leave it unset for the local file"
        )
    return url


def display_url(url: SecretStr | str) -> str:
    """The URL without its password (and without query options), for messages and logs."""
    parts = urlsplit(secret(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def connect(url: SecretStr | str, *, autocommit: bool = False) -> Any:
    """A new psycopg2 connection to ``url``; a failure names the URL without its password."""
    import psycopg2

    try:
        con = psycopg2.connect(secret(url), connect_timeout=10)
    except psycopg2.Error as exc:
        raise StateStoreError(
            f"cannot connect to {display_url(url)} ({type(exc).__name__}); check the URL "
            "setting and that PostgreSQL is running"
        ) from None
    con.autocommit = autocommit
    return con


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256(f"pipelines/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
