"""What the dbt docs site shows, as one digest: regenerate the site only when it changed.

``dbt docs generate`` renders the project (models, tests, sources, macros and their compiled
SQL) and the warehouse's catalog. dbt-duckdb's catalog holds each relation's and column's
name, type and comment, never row counts or statistics, so a day's new rows do not change the
site. The digest covers:

- every file of the dbt project dbt reads (following the shell's links), and ``profiles.yml``;
- the vars every run gets and the date the compiled SQL shows (``as_of``, default today UTC);
- the warehouse's relations and columns as the catalog reads them;
- the dbt and dbt-duckdb versions.

The site keeps the digest it was generated from (``.inputs.sha256``); the daily DAG's
``feature_docs`` keeps the site when the digest is unchanged (a second dbt process per day on
the demo, 5 CPU seconds, for the same pages).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

from pipelines.settings import Settings

DIGEST_FILE = ".inputs.sha256"
_SKIP_DIRS = frozenset({"target", "logs", "dbt_packages", "__pycache__", ".git"})
_CATALOG = (
    "SELECT 'table', schema_name, table_name, comment, NULL FROM duckdb_tables()",
    "SELECT 'view', schema_name, view_name, comment, NULL FROM duckdb_views() WHERE NOT internal",
    "SELECT 'column', schema_name, table_name || '.' || column_name, comment,"
    " column_index || ' ' || data_type FROM duckdb_columns() WHERE NOT internal",
)


def _files(project: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(project, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(names):
            yield Path(folder) / name


def _catalog(warehouse: Path) -> list[list[str | None]] | None:
    """The warehouse's relations and columns, or None when it cannot be read (absent, or a
    writer holds it): then the site is regenerated."""
    import duckdb

    if not warehouse.is_file():
        return None
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = [row for query in _CATALOG for row in con.execute(query).fetchall()]
    finally:
        con.close()
    return sorted([None if v is None else str(v) for v in row] for row in rows)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def docs_digest(
    settings: Settings, project: Path, variables: dict[str, object], as_of: date | None
) -> str | None:
    """The digest of everything the docs site shows, or None when the warehouse cannot be read."""
    from pipelines.warehouse.project import DBT_PROJECT_DIR

    catalog = _catalog(settings.warehouse)
    if catalog is None:
        return None
    digest = hashlib.sha256()
    shown = as_of or datetime.now(UTC).date()
    head = [shown.isoformat(), _version("dbt-core"), _version("dbt-duckdb"), variables, catalog]
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for path in [DBT_PROJECT_DIR / "profiles.yml", *_files(project)]:
        digest.update(b"\0" + str(path.relative_to(path.anchor)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def site_digest(site: Path) -> str | None:
    """The digest the site at ``site`` was generated from (None: unknown or incomplete)."""
    if not all((site / name).is_file() for name in ("index.html", "manifest.json", "catalog.json")):
        return None
    try:
        return (site / DIGEST_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def record_digest(site: Path, digest: str | None) -> None:
    """Keep ``digest`` beside the site (or forget the old one when None)."""
    path = site / DIGEST_FILE
    if digest is None:
        path.unlink(missing_ok=True)
        return
    scratch = path.with_suffix(".tmp")
    scratch.write_text(digest + "\n", encoding="utf-8")
    scratch.replace(path)
