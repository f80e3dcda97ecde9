"""DuckDB's extensions for object storage and open table formats, loaded from Python packages.

``httpfs`` (S3-compatible storage), ``ducklake`` (the DuckLake table format) and ``postgres``
(DuckLake's catalog in PostgreSQL) come from the package registry as
``duckdb-extension-<name>`` wheels, each carrying the extension file built for one DuckDB
version. :func:`load_extensions` loads that file into a connection: nothing is downloaded at
run time, and DuckDB's autoinstall is never needed.

DuckDB loads an extension only into the exact version it was built for, so ``duckdb`` is
pinned to the version of these packages (``pyproject.toml``).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from pipelines.sql import sql_str

EXTENSIONS = ("httpfs", "ducklake", "postgres")
"""The extensions this module can load, each from the package ``duckdb-extension-<name>``."""

LOADED_AS = {"postgres": "postgres_scanner"}
"""Extensions whose entry point (and name once loaded) differs from their file name."""


class ExtensionNotAvailable(RuntimeError):
    """The extension's package is missing, or was built for another DuckDB version."""


def extension_file(name: str) -> Path:
    """The extension file for the running DuckDB inside package ``duckdb-extension-<name>``."""
    if name not in EXTENSIONS:
        raise ValueError(f"unknown DuckDB extension {name!r}; known: {', '.join(EXTENSIONS)}")
    package = f"duckdb-extension-{name}"
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionNotAvailable(
            f"DuckDB extension {name!r} needs the package {package}=={duckdb.__version__}; "
            f"install it (uv sync) and retry."
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    path = root / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        built = sorted(p.name for p in root.glob("v*")) if root.is_dir() else []
        raise ExtensionNotAvailable(
            f"{package} has no build for DuckDB {duckdb.__version__} (found: "
            f"{', '.join(built) or 'none'}) in {root}. Pin duckdb and {package} to the same "
            f"version (uv add duckdb==X {package}==X)."
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: Iterable[str] = EXTENSIONS) -> None:
    """Load ``names`` into ``con`` from their packages (no download)."""
    loaded = {
        row[0]
        for row in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    for name in names:
        if LOADED_AS.get(name, name) not in loaded:
            con.execute(f"LOAD {sql_str(str(_loadable(name)))}")


def _loadable(name: str) -> Path:
    """The file to LOAD: DuckDB takes the entry point's name from the file name, so an
    extension known under another name is loaded through a link with that name."""
    path = extension_file(name)
    if name not in LOADED_AS:
        return path
    links = Path(tempfile.gettempdir()) / f"pipelines-duckdb-{os.getuid()}" / path.parent.name
    link = links / f"{LOADED_AS[name]}.duckdb_extension"
    if not (link.is_symlink() and link.resolve() == path.resolve()):
        links.mkdir(parents=True, exist_ok=True)
        staged = links / f".{link.name}.{os.getpid()}"
        staged.unlink(missing_ok=True)
        staged.symlink_to(path)
        staged.replace(link)
    return link


S3_ENV = {
    "KEY_ID": "AWS_ACCESS_KEY_ID",
    "SECRET": "AWS_SECRET_ACCESS_KEY",
    "REGION": "AWS_REGION",
    "ENDPOINT": "PIPELINES_S3_ENDPOINT",
}
"""The S3 secret's fields and the environment variables they come from."""


CONN_ID_ENV = "PIPELINES_S3_CONN_ID"
"""An Airflow connection to take the S3 credentials from when the environment has none."""


def s3_env_from_airflow(conn_id: str) -> dict[str, str]:
    """The :data:`S3_ENV` variables from Airflow connection ``conn_id`` (an ``aws``
    connection: login and password are the key pair, ``extra`` may hold ``region_name`` and
    ``endpoint_url``); empty when Airflow or the connection is not there."""
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception:  # no Airflow, or no such connection: as if unset
        return {}
    extra = conn.extra_dejson or {}
    values = {
        S3_ENV["KEY_ID"]: conn.login or "",
        S3_ENV["SECRET"]: conn.password or "",
        S3_ENV["REGION"]: str(extra.get("region_name") or ""),
        S3_ENV["ENDPOINT"]: str(extra.get("endpoint_url") or ""),
    }
    return {k: v for k, v in values.items() if v}


def resolved_s3_env(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The :data:`S3_ENV` variables to use: ``env`` (default ``os.environ``) when it holds a
    key id, else those of the Airflow connection named by ``PIPELINES_S3_CONN_ID``."""
    env = os.environ if env is None else env
    if not env.get(S3_ENV["KEY_ID"]) and env.get(CONN_ID_ENV):
        return s3_env_from_airflow(env[CONN_ID_ENV])
    return env


def s3_secret_from_env(
    con: duckdb.DuckDBPyConnection, env: Mapping[str, str] | None = None, name: str = "lake_s3"
) -> bool:
    """Create a DuckDB S3 secret from the environment, else from the Airflow connection
    named by ``PIPELINES_S3_CONN_ID``; False when neither has a key.

    ``PIPELINES_S3_ENDPOINT`` (``host:port`` or ``http://host:port``) points at an
    S3-compatible server (MinIO, moto); plain ``http://`` turns TLS off and uses path-style
    URLs, which such servers expect.
    """
    env = resolved_s3_env(env)
    if not env.get(S3_ENV["KEY_ID"]):
        return False
    load_extensions(con, ["httpfs"])
    fields = {k: env[v] for k, v in S3_ENV.items() if env.get(v)}
    endpoint = fields.pop("ENDPOINT", "")
    if endpoint:
        use_ssl = not endpoint.startswith("http://")
        fields["ENDPOINT"] = endpoint.split("://", 1)[-1]
        fields["USE_SSL"] = "true" if use_ssl else "false"
        fields["URL_STYLE"] = "path"
    options = ", ".join(
        f"{k} {v}" if k == "USE_SSL" else f"{k} {sql_str(v)}" for k, v in fields.items()
    )
    con.execute(f"CREATE OR REPLACE SECRET {name} (TYPE s3, {options})")
    return True


_INHERITED: list[duckdb.DuckDBPyConnection] = []


def keep_inherited(con: duckdb.DuckDBPyConnection | None) -> None:
    """Keep a forked child's copy ``con`` of its parent's connection, never closed: closing
    it tears down the parent's DuckDB instance, whose threads are not in the child (a hang
    or a crash), and ends its PostgreSQL sessions (the parent's sockets)."""
    if con is not None:
        _INHERITED.append(con)
