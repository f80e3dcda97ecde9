"""The ML teams' entry point: validated feature tables as polars DataFrames, with provenance.

>>> from pipelines.features import load_features, training_set
>>> fs = load_features("customer_features", purpose="churn")   # latest published snapshot
>>> fs = load_features("customer_features", as_of="2018-03-01", purpose="churn")
>>> fs.frame            # polars DataFrame, one row per entity
>>> fs.release          # lake partitions, dataset versions and checks it was built from
>>> fs.export("customer_features.parquet")  # refused unless policy.yml allows the destination

Only *published* snapshots are served (built from gate-passed lake partitions, dbt tests and
the feature checks passed). Reading never touches the DuckDB warehouse, so it works while a
pipeline run is writing it. A snapshot is served only if it is still the file the publish
decision hashed (``decided_sha256`` in its release); otherwise :class:`SnapshotIntegrityError`.

Every use declares its ``purpose``; a table the policy (``policy.yml``, docs/policy.md) does
not approve for it is refused with :class:`~pipelines.policy.PurposeRefused`, which names who
can approve it, and the refusal becomes a finding for the table's owner.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.features.paths import feature_table_names, snapshot_file
from pipelines.features.release import Release
from pipelines.features.snapshots import releases
from pipelines.features.stored import fetch_snapshot
from pipelines.hashing import file_sha256
from pipelines.policy.enforce import enforce_purpose, enforce_transfer
from pipelines.settings import Settings


class FeatureNotFound(LookupError):
    """No published snapshot matches the request."""


class SnapshotIntegrityError(RuntimeError):
    """A published snapshot file no longer matches the hash its publication decided on."""


def _verified_snapshot(settings: Settings, table: str, release: Release) -> Path:
    """The snapshot file of ``table`` in ``release``, checked against the hash its publish
    decision recorded (releases published before that hash was recorded are not checked)."""
    path = snapshot_file(settings, table, date.fromisoformat(release.as_of))
    fetch_snapshot(settings, table, release)  # published from another machine (lake on S3)
    expected = (release.features.get(table) or {}).get("decided_sha256")
    if expected and path.is_file():
        found = file_sha256(path)
        if found != expected:
            raise SnapshotIntegrityError(
                f"{table} as of {release.as_of}: {path} does not match its release "
                f"{release.release_id}: expected SHA-256 {expected}, found {found}. The file "
                "was changed after publication and is not served. Rebuild it: pipelines "
                f"features build --as-of {release.as_of}"
            )
    return path


@dataclass(frozen=True)
class FeatureSet:
    table: str
    as_of: date
    frame: pl.DataFrame
    release: Release
    file: Path
    purpose: str = ""

    def export(self, dest: str | Path, *, settings: Settings | None = None) -> Path:
        """Copy the snapshot's Parquet file (byte for byte) to ``dest``, a destination the
        policy declares in a jurisdiction the table's subjects allow (else
        :class:`~pipelines.policy.TransferRefused`, recorded as a finding)."""
        where = str(dest) if "://" in str(dest) else str(Path(dest).absolute())
        enforce_transfer(user_settings(settings), [self.table], where)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.file, target)
        return target


def user_settings(settings: Settings | None) -> Settings:
    """The settings of an ML user's call: those passed, else resolved here from the user's
    environment (a notebook calls ``load_features`` without settings). This API is an edge:
    everything below it is passed the settings."""
    return settings if settings is not None else Settings()


def _check_table(table: str, settings: Settings) -> None:
    """``table`` is a declared feature table that is on, or was published before."""
    known = feature_table_names(settings)
    if table in known or any(table in r.features for r in published_releases(settings)):
        return
    raise FeatureNotFound(
        f"unknown feature table {table!r}; available: {', '.join(known) or 'none'} (a feature "
        "table is a dbt model declared with config.meta.feature_table in its YAML)"
    )


def published_releases(settings: Settings) -> list[Release]:
    """Published releases, oldest as-of date first."""
    return [r for r in releases(settings) if r.status == "published"]


def _choose(
    table: str, candidates: list[Release], as_of: date | None, run_id: str | None
) -> Release:
    if run_id is not None:
        matching = [r for r in candidates if r.run_id == run_id]
        if not matching:
            raise FeatureNotFound(f"{table}: no published release was built by run {run_id!r}")
        return matching[-1]
    if as_of is not None:
        matching = [r for r in candidates if date.fromisoformat(r.as_of) <= as_of]
        if not matching:
            raise FeatureNotFound(f"{table}: no published release as of {as_of} or earlier")
        return matching[-1]
    if not candidates:
        raise FeatureNotFound(f"{table}: nothing published yet (run the commerce_daily DAG)")
    return candidates[-1]


def load_features(
    table: str,
    as_of: date | str | None = None,
    *,
    purpose: str,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> FeatureSet:
    """The snapshot of ``table`` as of ``as_of`` (the latest published one on or before that
    date; default: the latest), or the one built by pipeline run ``run_id``, for ``purpose``
    (refused unless the policy approves ``table`` for it)."""
    settings = user_settings(settings)
    _check_table(table, settings)
    enforce_purpose(settings, table, purpose)
    return replace(read_snapshot(table, as_of, run_id=run_id, settings=settings), purpose=purpose)


def read_snapshot(
    table: str,
    as_of: date | str | None = None,
    *,
    run_id: str | None = None,
    settings: Settings,
) -> FeatureSet:
    """:func:`load_features` without a purpose: for the pipeline's own governance reads
    (provenance, checks), never for a consumer."""
    _check_table(table, settings)
    wanted = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    release = _choose(table, published_releases(settings), wanted, run_id)
    snapshot_as_of = date.fromisoformat(release.as_of)
    path = _verified_snapshot(settings, table, release)
    if not path.is_file():
        raise FeatureNotFound(f"{table}: release {release.release_id} lists no file at {path}")
    return FeatureSet(table, snapshot_as_of, pl.read_parquet(path), release, path)


def load_history(table: str, *, purpose: str, settings: Settings | None = None) -> pl.DataFrame:
    """Every published snapshot of ``table`` stacked (one row per entity and as-of date), for
    ``purpose`` (refused unless the policy approves ``table`` for it)."""
    settings = user_settings(settings)
    _check_table(table, settings)
    enforce_purpose(settings, table, purpose)
    return _history(table, settings)


def _history(table: str, settings: Settings) -> pl.DataFrame:
    files = [_verified_snapshot(settings, table, r) for r in published_releases(settings)]
    files = [f for f in files if f.is_file()]
    if not files:
        raise FeatureNotFound(f"{table}: nothing published yet")
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def training_set(
    labels: pl.DataFrame,
    table: str,
    *,
    key: str,
    time_column: str,
    purpose: str,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """Join each labelled event to ``table``'s features as they were *before* the event.

    An event at time ``t`` gets the latest published snapshot with ``as_of_date <= date(t)``:
    a snapshot as of ``D`` only saw events before ``D 00:00 UTC``, so nothing at or after the
    event (including the event itself) can leak into its features. Events with no earlier
    snapshot get nulls. The chosen snapshot date is returned as ``feature_as_of``. Refused
    unless the policy approves ``table`` for ``purpose``.
    """
    history = load_history(table, purpose=purpose, settings=settings)
    if key not in labels.columns or time_column not in labels.columns:
        raise KeyError(f"labels need columns {key!r} and {time_column!r}; got {labels.columns}")
    if key not in history.columns:
        raise KeyError(f"{table} has no column {key!r}; its key columns come first")
    features = (
        history.rename({"as_of_date": "feature_as_of"})
        .with_columns(pl.col("feature_as_of").cast(pl.Date))
        .sort("feature_as_of")
    )
    left = labels.with_columns(
        pl.col(time_column).cast(pl.Datetime("us", "UTC")).dt.date().alias("_event_date")
    ).with_row_index("_label_row")
    joined = left.sort("_event_date").join_asof(
        features,
        left_on="_event_date",
        right_on="feature_as_of",
        by=key,
        strategy="backward",
        check_sortedness=False,  # both sides are sorted on the join column above
    )
    return joined.sort("_label_row").drop("_label_row", "_event_date")
