"""Feature releases in the DuckLake catalog: publishing a release is one transaction.

Each feature table's snapshot object (content-addressed, already PUT by
:mod:`pipelines.features.stored`) is registered in the DuckLake table ``features__<table>``
(``ducklake_add_data_files``; the rows of the same as-of date's previous publication go,
``DELETE ... WHERE filename = <old uri>``), and the release JSON is the as-of date's row of
``_pipelines_releases(as_of, release_id, release)``: readers follow that row, and an as-of
read of it (``AT (VERSION => n)``) is the releases at snapshot ``n``. Where each table's
object is, given a release JSON, is the caller's (:data:`ReleaseFiles`): the layout belongs
to the features package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb

from pipelines.lake.ducklake.commit import commit_message, ensure_table
from pipelines.lake.ducklake.connection import (
    ALIAS,
    CatalogError,
    LakeCatalog,
    has_table,
    retrying,
)
from pipelines.lake.ducklake.history import expire, kept_snapshots, live_spans, snapshot_now
from pipelines.sql import q, sql_str

RELEASES = "_pipelines_releases"
"""One row per published as-of date: its release id and the release's JSON."""
TABLE_PREFIX = "features__"
"""A feature table ``t``'s snapshots are the DuckLake table ``features__t``."""

ReleaseFiles = Callable[[str], dict[str, str]]
"""A release's JSON -> {feature table: URI of its snapshot object}."""


@dataclass(frozen=True)
class ReleaseEntry:
    """One release to publish: its objects are on the store already."""

    as_of: str
    release_id: str
    release: str
    """The release's JSON, as readers get it back."""
    run_id: str | None
    extra: dict[str, object] = field(default_factory=dict)
    """More of the commit's ``extra_info``."""


def feature_table(table: str) -> str:
    """The DuckLake table holding feature table ``table``'s published snapshots."""
    return TABLE_PREFIX + table


def ensure_releases(catalog: LakeCatalog) -> None:
    """Create the releases table (its rows inlined in the catalog: a commit writes no
    object for them) unless it exists; two first publications at once: one creates it."""
    with catalog.session() as cur:
        retrying(lambda: _create_releases(cur))


def _create_releases(cur: duckdb.DuckDBPyConnection) -> None:
    if has_table(cur, RELEASES):
        return
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {ALIAS}.{RELEASES} "
        "(as_of VARCHAR, release_id VARCHAR, release VARCHAR)"
    )
    cur.execute(
        f"CALL ducklake_set_option({sql_str(ALIAS)}, 'data_inlining_row_limit', "
        f"1000, table_name => {sql_str(RELEASES)})"
    )


def _swap(cur: duckdb.DuckDBPyConnection, table: str, old: str | None, new: str | None) -> None:
    """Replace object ``old``'s rows in ``features__<table>`` by object ``new``'s."""
    if old == new:
        return
    name = feature_table(table)
    if old is not None and has_table(cur, name):
        cur.execute(f"DELETE FROM {ALIAS}.{q(name)} WHERE filename = ?", [old])
    if new is not None:
        ensure_table(cur, name, new)
        cur.execute(
            f"CALL ducklake_add_data_files({sql_str(ALIAS)}, {sql_str(name)}, {sql_str(new)}, "
            "allow_missing => true)"
        )


def commit_release(catalog: LakeCatalog, entry: ReleaseEntry, files_of: ReleaseFiles) -> None:
    """Publish ``entry`` in one catalog transaction: its snapshot objects registered, those
    of the as-of date's previous release unregistered, its row replacing that release's."""
    ensure_releases(catalog)
    files = files_of(entry.release)

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        row = cur.execute(
            f"SELECT release FROM {ALIAS}.{RELEASES} WHERE as_of = ?", [entry.as_of]
        ).fetchone()
        old = files_of(str(row[0])) if row is not None else {}
        cur.execute(f"DELETE FROM {ALIAS}.{RELEASES} WHERE as_of = ?", [entry.as_of])
        for table in sorted(old.keys() | files.keys()):
            _swap(cur, table, old.get(table), files.get(table))
        cur.execute(
            f"INSERT INTO {ALIAS}.{RELEASES} VALUES (?, ?, ?)",
            [entry.as_of, entry.release_id, entry.release],
        )
        extra = {"features_as_of": entry.as_of, "release_id": entry.release_id,
                 "files": files, **entry.extra}  # fmt: skip
        commit_message(cur, entry.run_id, f"publish features as of {entry.as_of}", extra)

    catalog.transaction(f"features as of {entry.as_of}", work)


def _at(snapshot: int | None) -> str:
    return "" if snapshot is None else f" AT (VERSION => {int(snapshot)})"


def releases(catalog: LakeCatalog, snapshot: int | None = None) -> dict[str, str]:
    """as_of -> release JSON of every published release, now or as of ``snapshot``."""
    with catalog.session() as cur:
        try:
            if snapshot is None and not has_table(cur, RELEASES):
                return {}
            rows = cur.execute(
                f"SELECT as_of, release FROM {ALIAS}.{RELEASES}{_at(snapshot)} ORDER BY as_of"
            ).fetchall()
        except (duckdb.InvalidInputException, duckdb.CatalogException) as exc:
            if snapshot is None:
                raise
            if snapshot in kept_snapshots(cur):  # a snapshot before the first release: none yet
                return {}
            raise CatalogError(  # no such snapshot: expired, or to come
                f"no feature releases as of snapshot {snapshot} in {catalog.display} ({exc}); "
                "ducklake_snapshots() lists the snapshots kept"
            ) from None
    return {str(a): str(r) for a, r in rows}


def release(catalog: LakeCatalog, as_of: str) -> str | None:
    """The release JSON published for ``as_of`` now, or None."""
    with catalog.session() as cur:
        if not has_table(cur, RELEASES):
            return None
        row = cur.execute(
            f"SELECT release FROM {ALIAS}.{RELEASES} WHERE as_of = ?", [as_of]
        ).fetchone()
    return None if row is None else str(row[0])


def referencing_snapshots(
    catalog: LakeCatalog, uris: Iterable[str], files_of: ReleaseFiles
) -> list[int]:
    """The snapshots, older than the current one, in which a release row named one of
    ``uris`` as a snapshot object: those from which a time-travel read of a
    ``features__<table>`` reaches it (the row and the files change in one commit)."""
    wanted = set(uris)
    with catalog.session() as cur:
        if not wanted or not has_table(cur, RELEASES):
            return []
        now = snapshot_now(cur)
        rows = cur.execute(
            f"SELECT snapshot_id, change_type, rowid, release FROM ducklake_table_changes("
            f"{sql_str(ALIAS)}, 'main', {sql_str(RELEASES)}, 0, {now}) ORDER BY snapshot_id"
        ).fetchall()
        kept = kept_snapshots(cur)
    hits = [
        (int(s), str(c), int(r))
        for s, c, r, text in rows
        if wanted & set(files_of(str(text)).values())
    ]
    return sorted(s for s in live_spans(hits, now) if s in kept)


def expire_referencing(
    catalog: LakeCatalog, uris: Iterable[str], files_of: ReleaseFiles
) -> list[int]:
    """Expire every snapshot from which a read of a feature table reaches one of ``uris``
    (snapshot objects deleted, say by an erasure); the snapshots expired."""
    uris = list(uris)
    versions = referencing_snapshots(catalog, uris, files_of)
    if uris:
        expire(catalog, versions)
    return versions
