"""The training DAG's task: one call into :mod:`pipelines.models.repeat_purchase`."""

from __future__ import annotations

from typing import Any

from pipelines.taskscope import fail_without_retry


def train_repeat_purchase(run_id: str | None, horizon_days: int | None = None) -> dict[str, Any]:
    """Train on the latest published release; too little data fails without retrying (a retry
    would read the same release). Returns the version, metrics and where the card is."""
    from pipelines.console import task_logging
    from pipelines.models.repeat_purchase import DEFAULT_HORIZON_DAYS, NotEnoughData, train

    task_logging()
    trained = fail_without_retry(
        NotEnoughData,
        train,
        horizon_days=horizon_days or DEFAULT_HORIZON_DAYS,
        run_id=run_id,
    )
    record = trained.record
    return {
        "model": record.model,
        "version": record.version,
        "metrics": record.metrics,
        "training_rows": record.training_rows,
        "features": [f"{u.table}@{u.release_id}" for u in record.features],
        "card": str(trained.folder / "card.md"),
    }
