"""Models trained on the published features, with their lineage and model cards.

``from pipelines.models import training_run, LabelSource`` (see :mod:`.record`): record which
feature releases and label source made which model version. :mod:`.repeat_purchase` is the
example model the ``train_repeat_purchase`` DAG trains; :mod:`.card` writes model cards.
Names load lazily, so DAG files importing this package import nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.models.record import (
        FeatureInput,
        LabelSource,
        TrainingRecord,
        model_version,
        training_run,
    )

__all__ = ["FeatureInput", "LabelSource", "TrainingRecord", "model_version", "training_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pipelines.models import record

        return getattr(record, name)
    raise AttributeError(f"module 'pipelines.models' has no attribute {name!r}")
