"""The training DAG's task: one call into :mod:`pipelines.models.repeat_purchase`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.taskscope import fail_without_retry, redaction_boundary, task_settings

TABLE = "customer_features"


def triggering_as_of(events: Mapping[Any, Sequence[Any]] | None) -> str | None:
    """The ``as_of`` of the newest ``features.customer_features`` event among a run's
    triggering asset events (Airflow's accessor, looked up by the Asset); ``None`` for a run
    not triggered by that asset (then the latest published release is used)."""
    from pipelines.assets import feature_asset

    if not events:
        return None
    with redaction_boundary():
        found = [e for e in events.get(feature_asset(TABLE)) or [] if (e.extra or {}).get("as_of")]
        if not found:
            return None
        return str(max(found, key=lambda e: e.timestamp).extra["as_of"])


def train_repeat_purchase(
    run_id: str | None,
    horizon_days: int | None = None,
    release_as_of: str | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    """Train on the release the triggering asset event names (else the latest published) for
    the declared ``purpose``; too little data or a purpose the policy refuses fails without
    retrying (a retry would read the same release under the same policy). Returns the
    version, metrics, purpose, the release and where the card is."""
    with redaction_boundary():
        return _train(run_id, horizon_days, release_as_of, purpose)


def _train(
    run_id: str | None, horizon_days: int | None, release_as_of: str | None, purpose: str | None
) -> dict[str, Any]:
    """:func:`train_repeat_purchase` inside its redaction boundary."""
    from pipelines.models.repeat_purchase import (
        DEFAULT_HORIZON_DAYS,
        PURPOSE,
        NotEnoughData,
        train,
    )
    from pipelines.policy import PurposeRefused

    trained = fail_without_retry(
        (NotEnoughData, PurposeRefused),
        train,
        settings=task_settings(),
        horizon_days=horizon_days or DEFAULT_HORIZON_DAYS,
        run_id=run_id,
        release_as_of=release_as_of,
        purpose=purpose or PURPOSE,
    )
    record = trained.record
    return {
        "model": record.model,
        "version": record.version,
        "metrics": record.metrics,
        "training_rows": record.training_rows,
        "release_as_of": release_as_of,
        "purpose": record.purpose,
        "features": [f"{u.table}@{u.release_id}" for u in record.features],
        "card": str(trained.folder / "card.md"),
    }
