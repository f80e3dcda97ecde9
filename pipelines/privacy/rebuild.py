"""Erasure in aggregates: rebuild the feature tables from the rewritten lake.

Deleting a person's rows (:mod:`pipelines.privacy.derived`) leaves their contribution in the
rows aggregated over many people: a product's order count, a seller's revenue. So after the
lake is rewritten, every as-of date that was built (a feature snapshot or the warehouse marts
hold it) and that may have read a rewritten partition is built again through the warehouse's
own build (:func:`pipelines.warehouse.build.build_features`: lake views, ``dbt build``), from
its release's partitions at their new versions (the whole lake for a date built without a
release), and its snapshots are exported again. The release records each new SHA-256 and row
count, so :func:`pipelines.features.load_features` keeps serving it.

A build that fails leaves that date's aggregates as they were: the certificate says so
(``success: false`` and the tables kept), and the erasure goes on with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.features.paths import features_dir, release_file
from pipelines.features.release import Release
from pipelines.features.snapshots import export_snapshots, read_release, write_release
from pipelines.hashing import file_sha256
from pipelines.lake.storage import lake_store
from pipelines.privacy.derived import snapshot_files
from pipelines.settings import Settings
from pipelines.sql import q
from pipelines.warehouse.build import build_features, connect
from pipelines.warehouse.declared import feature_tables
from pipelines.warehouse.project import MARTS_SCHEMA, target_dir


@dataclass
class Rebuilt:
    """One as-of date built again: per feature table its old and new snapshot version."""

    as_of: str
    release_id: str | None
    success: bool
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "release_id": self.release_id,
            "success": self.success,
            "tables": self.tables,
        }


def _mart_dates(settings: Settings) -> set[date]:
    """The as-of dates the warehouse marts hold."""
    out: set[date] = set()
    with connect(settings, read_only=True) as con:
        built = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [MARTS_SCHEMA],
            ).fetchall()
        }
        for spec in feature_tables(settings):
            if spec.name in built:
                rows = con.execute(
                    f"SELECT DISTINCT {q(spec.as_of)} FROM {MARTS_SCHEMA}.{q(spec.name)}"
                ).fetchall()
                out |= {r[0] for r in rows if isinstance(r[0], date)}
    return out


def built_dates(settings: Settings) -> list[date]:
    """Every as-of date with a feature snapshot or rows in the warehouse marts."""
    snapshots = {
        date.fromisoformat(p.parent.name.removeprefix("as_of="))
        for p in snapshot_files(features_dir(settings))
    }
    return sorted(snapshots | _mart_dates(settings))


def _snapshot_tables(settings: Settings, as_of: date) -> list[Path]:
    return [
        p
        for p in snapshot_files(features_dir(settings))
        if p.parent.name == f"as_of={as_of.isoformat()}"
    ]


def rebuild_date(settings: Settings, as_of: date, release: Release | None) -> Rebuilt:
    """Build ``as_of`` again from the lake as it is now, and export its snapshots."""
    snapshots = _snapshot_tables(settings, as_of)
    before = {p.parent.parent.name: file_sha256(p) for p in snapshots}
    result = build_features(
        settings,
        as_of,
        selection=release.selection(lake_store(settings)) if release else None,
        release_id=release.release_id if release else "manual",
        run_id=(release.run_id if release else None) or "manual",
        check=False,
    )
    from pipelines.warehouse.dbt_lineage import emit_dbt_run  # defers openlineage

    emit_dbt_run(target_dir(settings), settings=settings)  # lineage of the build; never raises
    done = Rebuilt(as_of.isoformat(), release.release_id if release else None, result.success)
    if not result.success:
        done.tables = {t: {"old_version": v, "kept": True} for t, v in before.items()}
        return done
    with connect(settings) as con:
        exported = export_snapshots(con, settings, as_of, tuple(sorted(before)))
    done.tables = {
        t: {"old_version": before[t], "new_version": info["sha256"], "rows": info["rows"]}
        for t, info in exported.items()
    }
    if release is not None:
        for table, info in exported.items():
            entry = release.features.setdefault(table, {})
            entry["sha256"], entry["rows"] = info["sha256"], info["rows"]
            if "decided_sha256" in entry:  # what load_features checks the served file against
                entry["decided_sha256"] = info["sha256"]
        write_release(settings, release)
    return done


def rebuild_features(settings: Settings, new_versions: set[str]) -> list[Rebuilt]:
    """Rebuild every built as-of date that may hold a contribution of the rewritten lake
    partitions (``new_versions``: their new dataset versions, already in the releases)."""
    if not new_versions or not settings.warehouse.is_file():
        return []
    out = []
    for as_of in built_dates(settings):
        path = release_file(settings, as_of)
        release = read_release(settings, as_of) if path.is_file() else None
        if release is not None and not any(
            p.dataset_version in new_versions for p in release.partitions
        ):
            continue  # built from partitions the person is not in
        out.append(rebuild_date(settings, as_of, release))
    return out
