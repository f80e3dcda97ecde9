"""The example model: will a customer buy again within ``horizon_days``? (scikit-learn).

For the published release as of ``D`` (the latest by default), the features are the published
``customer_features`` snapshot as of ``D0``, the latest one on or before ``D - horizon_days``,
joined point in time by :func:`pipelines.features.training_set`; the label of a customer is
whether the lake partitions of that same release (gate-passed) hold an order of theirs placed
in ``[D0, D0 + horizon_days)``. Customers are matched by their pseudonymous tokens only
(``orders.customer_id`` -> ``customers.customer_unique_id`` -> ``customer_unique_token``).

:func:`train` writes ``<data_dir>/models/repeat_purchase/version=<id>/``: ``model.pkl``,
``metadata.json`` and the model card (``card.json``, ``card.md``), and records the run's
lineage (:mod:`pipelines.models.record`).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.features.api import FeatureNotFound, load_features, published_releases, training_set
from pipelines.features.release import Release, as_of_datetime
from pipelines.lake.frames import scan_data
from pipelines.lake.storage import lake_store
from pipelines.models.record import LabelSource, TrainingRecord, training_run, version_dir
from pipelines.settings import Settings

MODEL = "repeat_purchase"
TABLE = "customer_features"
KEY = "customer_unique_token"
PURPOSE = "repeat_purchase"
"""The purpose the policy must approve customer_features for (policy.yml)."""
FEATURES = (
    "orders",
    "canceled_orders",
    "spend",
    "recency_days",
    "frequency_90d",
    "tenure_days",
    "review_count",
    "late_delivery_share",
    "credit_card_share",
    "boleto_share",
)
SEGMENT = "customer_state"
REFERENCE = "olist_customer_state"
LABEL_COLUMNS = (
    ("orders", "customer_id"),
    ("orders", "order_purchase_timestamp"),
    ("customers", "customer_id"),
    ("customers", "customer_unique_id"),
)
DEFAULT_HORIZON_DAYS = 30


class NotEnoughData(RuntimeError):
    """The release cannot give a training set with both classes."""


@dataclass(frozen=True)
class Trained:
    record: TrainingRecord
    folder: Path
    card: dict[str, Any]


def _release(settings: Settings, release_as_of: date | None) -> Release:
    candidates = published_releases(settings)
    if release_as_of is not None:
        candidates = [r for r in candidates if date.fromisoformat(r.as_of) <= release_as_of]
    if not candidates:
        raise FeatureNotFound("no published feature release to train on (run commerce_daily)")
    return candidates[-1]


def label_source(settings: Settings, release: Release, start: date, end: date) -> LabelSource:
    """The release's orders partitions overlapping ``[start, end)`` and all its customers
    partitions."""
    selection = release.selection(lake_store(settings))
    lo, hi = as_of_datetime(start), as_of_datetime(end)
    orders = [
        p for p in selection.get("orders", []) if p.interval.start < hi and p.interval.end > lo
    ]
    customers = list(selection.get("customers", []))
    return LabelSource(
        description=f"ordered again in [{start}, {end}) (orders in gate-passed lake partitions)",
        partitions=tuple(orders + customers),
        columns=LABEL_COLUMNS,
    )


def labels_frame(
    source: LabelSource, start: date, end: date, config: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """``customer_unique_token`` of every customer who ordered in ``[start, end)``, read
    verified from the lake the partitions are on (``config``: DuckDB's, for an object store)."""
    parts = {t: [p for p in source.partitions if p.table == t] for t in ("orders", "customers")}
    if not parts["orders"] or not parts["customers"]:
        return pl.DataFrame({KEY: []}, schema={KEY: pl.Utf8})
    orders = scan_data(parts["orders"], ("customer_id", "order_purchase_timestamp"), config=config)
    customers = scan_data(parts["customers"], ("customer_id", "customer_unique_id"), config=config)
    lo, hi = as_of_datetime(start), as_of_datetime(end)
    return (
        orders.filter(
            (pl.col("order_purchase_timestamp").cast(pl.Datetime("us", "UTC")) >= lo)
            & (pl.col("order_purchase_timestamp").cast(pl.Datetime("us", "UTC")) < hi)
        )
        .join(customers.unique(), on="customer_id")
        .select(pl.col("customer_unique_id").alias(KEY))
        .unique()
        .collect()
    )


def _matrix(frame: pl.DataFrame) -> Any:
    """Numeric features (nulls as 0) and the customer's state one-hot encoded."""
    numeric = frame.select([pl.col(c).cast(pl.Float64).fill_null(0.0) for c in FEATURES])
    states = frame.select(pl.col(SEGMENT).fill_null("unknown")).to_dummies()
    return pl.concat([numeric, states.cast(pl.Float64)], how="horizontal").to_numpy()


def _fit(x: Any, y: Any, parameters: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=int(parameters["random_state"]), stratify=y
    )
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=float(parameters["C"]), max_iter=int(parameters["max_iter"]), class_weight="balanced"
        ),
    )
    model.fit(x_train, y_train)
    scores = model.predict_proba(x_test)[:, 1]
    metrics = {
        "roc_auc": float(roc_auc_score(y_test, scores)),
        "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        "positive_rate": float(y.mean()),
        "test_rows": float(len(y_test)),
    }
    return model, metrics


def _representativeness(
    settings: Settings, release: Release, frame: pl.DataFrame, as_of: date
) -> list[dict[str, Any]]:
    from pipelines.models.segments import profile_genders, representativeness, segment_frame

    genders = profile_genders(settings, release, as_of)
    return representativeness(segment_frame(frame, genders))


def train(
    *,
    release_as_of: date | str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    settings: Settings,
    run_id: str | None = None,
    purpose: str = PURPOSE,
) -> Trained:
    """Train, write the artifact and its card, record lineage (see the module docstring).
    ``purpose`` is declared to the policy: a purpose customer_features is not approved for
    is refused (:class:`~pipelines.policy.PurposeRefused`) before anything is read."""
    from pipelines.models.card import build_card, write_card
    from pipelines.warehouse.build import duckdb_config

    wanted = date.fromisoformat(release_as_of) if isinstance(release_as_of, str) else release_as_of
    release = _release(settings, wanted)
    horizon = timedelta(days=horizon_days)
    fs = load_features(
        TABLE, date.fromisoformat(release.as_of) - horizon, purpose=purpose, settings=settings
    )
    window = (fs.as_of, fs.as_of + horizon)
    parameters: dict[str, Any] = {
        "C": 1.0,
        "max_iter": 500,
        "random_state": 7,
        "horizon_days": horizon_days,
        "label_release": release.release_id,
    }
    with training_run(MODEL, settings=settings, run_id=run_id) as run:
        source = label_source(settings, release, *window)
        buyers = set(labels_frame(source, *window, duckdb_config(settings))[KEY].to_list())
        events = fs.frame.select(KEY).with_columns(
            pl.lit(as_of_datetime(fs.as_of)).alias("label_time"),
            pl.col(KEY).is_in(list(buyers)).cast(pl.Int8).alias("label"),
        )
        joined = training_set(
            events, TABLE, key=KEY, time_column="label_time", purpose=purpose, settings=settings
        )
        joined = joined.filter(pl.col("feature_as_of") == fs.as_of)
        y = joined["label"].to_numpy()
        if joined.height < 20 or len(set(y.tolist())) < 2:
            raise NotEnoughData(
                f"{MODEL}: {joined.height} customers as of {fs.as_of}, "
                f"{int(y.sum()) if len(y) else 0} of them ordered in [{window[0]}, {window[1]}): "
                "need at least 20 and both outcomes"
            )
        x = _matrix(joined)
        model, metrics = _fit(x, y, parameters)
        features = [run.used(fs, [*FEATURES, SEGMENT])]
        folder = version_dir(settings, MODEL, run.version(features, source, parameters))
        folder.mkdir(parents=True, exist_ok=True)
        artifact = folder / "model.pkl"
        artifact.write_bytes(pickle.dumps(model))
        record = run.record(
            features=features,
            labels=source,
            algorithm="sklearn.linear_model.LogisticRegression",
            parameters=parameters,
            metrics=metrics,
            training_rows=joined.height,
            artifact=artifact,
            card=folder / "card.md",
        )
        releases = {r.release_id: r for r in published_releases(settings)}
        card = build_card(
            settings, record, releases, _representativeness(settings, release, joined, fs.as_of)
        )
        write_card(folder, card)
        (folder / "metadata.json").write_text(
            json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return Trained(record, folder, card)
