"""Another engine on the lake's DuckLake catalog: plain DuckDB with only the ``ducklake``,
``postgres`` and ``httpfs`` extensions (loaded from their packages) and an S3 secret, the
catalog attached as ``lake``; no pipelines code between it and the lake."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
from pydantic import SecretStr

from pipelines.lake.extensions import load_extensions, s3_secret_from_env


def other_engine(
    catalog_url: SecretStr, env: Mapping[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """The connection; S3 credentials from ``env`` (default: the environment)."""
    con = duckdb.connect()
    load_extensions(con, ["ducklake", "postgres", "httpfs"])
    s3_secret_from_env(con, env)
    con.execute(f"ATTACH 'ducklake:postgres:{catalog_url.get_secret_value()}' AS lake")
    return con


def ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    """The first column of ``sql``'s rows as sorted integers."""
    return sorted(int(r[0]) for r in con.execute(sql).fetchall())
