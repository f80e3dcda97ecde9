"""Where the dbt project lives and where its outputs go (never inside the repository)."""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import PROJECT_DIR, Settings

DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
"""The dbt project (also its profiles directory: ``dbt_project/profiles.yml``)."""

SOURCES_FILE = DBT_PROJECT_DIR / "sources" / "_lake__sources.yml"
"""The dbt sources, generated from the contracts by ``pipelines warehouse sources``."""

LAKE_SCHEMA = "lake"
"""Warehouse schema holding ``partitions`` and one view per contract table."""

MARTS_SCHEMA = "marts"
"""Warehouse schema of the feature tables (``marts.customer_features``, ...)."""

# The feature tables served to ML teams are declared in the models' YAML
# (``config: meta: feature_table:``): see pipelines.warehouse.declared.


def dbt_dir(settings: Settings) -> Path:
    """``<data_dir>/dbt``: dbt's target (artifacts, compiled SQL) and logs for this data dir."""
    return settings.data_dir / "dbt"


def target_dir(settings: Settings) -> Path:
    return dbt_dir(settings) / "target"


def log_dir(settings: Settings) -> Path:
    return dbt_dir(settings) / "logs"
