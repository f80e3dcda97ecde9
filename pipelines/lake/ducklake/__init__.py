"""DuckLake as the lake's table format on an object store (``lake_catalog_url``, issue #19).

With a catalog, a partition's content-addressed objects (``data-<sha256>.parquet``,
``quarantine-<sha256>.parquet``, still PUT first by :mod:`pipelines.lake.stored`) are
registered in DuckLake tables ``<table>`` and ``<table>__quarantine``, and the manifest is a
row of ``_pipelines_manifests`` instead of a ``manifest.json`` object: one catalog
transaction is the commit, and every commit is a snapshot (time travel, history).

* :mod:`.connection`: :class:`LakeCatalog`, one attached DuckDB connection per process;
* :mod:`.commit`: publishing and removing a partition (one transaction each);
* :mod:`.history`: listing (as of a snapshot), the commit history, expiring snapshots;
* :mod:`.releases`: the feature releases (``features__<table>`` tables and the
  ``_pipelines_releases`` row of each as-of date), published in one transaction each.

Build a store with a catalog from settings with
:func:`pipelines.lake.storage.lake_store`; list with
:func:`pipelines.lake.partitions.partitions` (``snapshot=`` for an as-of listing) and
:func:`.history.history`.
"""

from __future__ import annotations

from pipelines.lake.ducklake.connection import (
    MANIFESTS,
    CatalogConflict,
    CatalogError,
    LakeCatalog,
)

__all__ = ["MANIFESTS", "CatalogConflict", "CatalogError", "LakeCatalog"]
