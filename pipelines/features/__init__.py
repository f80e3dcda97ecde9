"""Validated ML feature tables: release selection, snapshots and the consumer API.

``from pipelines.features import load_features, training_set`` (see :mod:`.api`). The names
are loaded lazily so that DAG files importing :mod:`.paths` do not import polars.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.features.api import (
        FeatureNotFound,
        FeatureSet,
        load_features,
        load_history,
        published_releases,
        training_set,
    )

__all__ = [
    "FeatureNotFound",
    "FeatureSet",
    "load_features",
    "load_history",
    "published_releases",
    "training_set",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pipelines.features import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipelines.features' has no attribute {name!r}")
