"""A dbt-duckdb plugin: dbt's connection reads a lake on an object store.

The ``lake.*`` views in the warehouse read the lake's Parquet files; when the lake is on an
S3-compatible store (``PIPELINES_LAKE_URL``, passed by :func:`pipelines.warehouse.dbt.run_dbt`)
they read ``s3://`` URLs, so dbt's DuckDB needs ``httpfs`` (from its package, never
downloaded) and the S3 secret from the environment. With a local lake it does nothing.
Declared under ``plugins:`` in ``dbt_project/profiles.yml``.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.lake.storage import LAKE_URL_ENV, lake_storage


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        url = os.environ.get(LAKE_URL_ENV, "")
        if url:
            lake_storage(url).prepare(conn)
