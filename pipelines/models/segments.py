"""Representativeness of a training set by segment, compared with the reference populations.

Four views of the training customers: state (``customer_state`` of the feature snapshot),
region (the states grouped by ``expectations/reference/groups/brazil_regions.yml``), age band
(``age_band`` of the snapshot) and gender. Gender is no model input: it is read, for this
comparison only, from the release's gate-passed ``lake.customer_profiles`` partitions (the
latest profile of each pseudonymous ``customer_unique_id`` known before the features' as-of
date). Only counts per segment leave this module; a customer without a value, or whose state
and age band the feature table suppressed for k-anonymity (``*``), is counted as ``missing``
beside the comparison.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from pipelines.features.release import Release, as_of_datetime
from pipelines.settings import Settings

KEY = "customer_unique_token"
REGIONS = "brazil_regions"
VIEWS = (
    # (segment, reference, groups)
    ("customer_state", "olist_customer_state", None),
    ("region", "olist_customer_state", REGIONS),
    ("age_band", "synthetic_age_band", None),
    ("gender", "synthetic_gender", None),
)
MONITORING_ONLY = ("features.customer_features.age_band", "lake.customer_profiles.gender")
"""Columns read for the comparison that are no model input (named in the card's PII status)."""


def profile_genders(settings: Settings, release: Release, as_of: date) -> pl.DataFrame:
    """``customer_unique_token``, ``gender``: the latest profile known before ``as_of``."""
    from pipelines.lake.frames import scan_data
    from pipelines.lake.storage import lake_store
    from pipelines.warehouse.build import duckdb_config

    parts = [
        p
        for p in release.selection(lake_store(settings)).get("customer_profiles", [])
        if p.interval.start < as_of_datetime(as_of)
    ]
    if not parts:
        return pl.DataFrame(schema={KEY: pl.Utf8, "gender": pl.Utf8})
    starts = {p.name: p.interval.start for p in parts}
    columns = ("customer_unique_id", "gender", "_source_row")
    frame = scan_data(parts, columns, partition_column="_start", config=duckdb_config(settings))
    return (
        frame.with_columns(pl.col("_start").replace_strict(starts))
        .sort("_start", "_source_row")
        .group_by("customer_unique_id")
        .agg(pl.col("gender").last())
        .rename({"customer_unique_id": KEY})
        .collect()
    )


def segment_frame(training: pl.DataFrame, genders: pl.DataFrame) -> pl.DataFrame:
    """One row per training customer with the four segment columns."""
    from pipelines.quality.reference import load_groups

    regions = load_groups(REGIONS)
    from pipelines.protection_types import SUPPRESSED

    known = [
        pl.when(pl.col(c) == SUPPRESSED).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("customer_state", "age_band")
    ]
    return (
        training.select(KEY, "customer_state", "age_band")
        .with_columns(known)
        .join(genders, on=KEY, how="left")
        .with_columns(
            pl.col("customer_state").replace_strict(regions, default=None).alias("region")
        )
    )


def _reference(name: str, groups: str | None) -> dict[str, float]:
    from pipelines.quality.reference import grouped, load_groups, load_reference

    shares = load_reference(name).shares
    return grouped(shares, load_groups(groups)) if groups else shares


def representativeness(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Per view: the comparison of its segment counts with the reference (counts only)."""
    from pipelines.quality.stats import compare

    out = []
    for segment, reference, groups in VIEWS:
        values = frame[segment]
        counts = {
            str(k): int(v) for k, v in values.drop_nulls().value_counts().iter_rows() if k != ""
        }
        result = compare(counts, _reference(reference, groups)).as_dict()
        out.append(
            {
                "segment": segment,
                "reference": reference + (f" grouped by {groups}" if groups else ""),
                "missing": int(values.null_count()),
                **result,
            }
        )
    return out
