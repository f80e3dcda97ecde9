"""The feature warehouse: the protected lake as DuckDB views, and the dbt project over them.

- :mod:`pipelines.warehouse.lake_views`: ``register_lake`` exposes chosen lake partitions as
  views in schema ``lake`` (the lake stays the only copy of the data).
- :mod:`pipelines.warehouse.sources`: the dbt sources file, generated from the contracts.
- :mod:`pipelines.warehouse.dbt`: ``run_dbt`` runs dbt quietly and returns its results.
- :mod:`pipelines.warehouse.build`: ``build_features`` = register a selection + ``dbt build``.

Modules import DuckDB and dbt lazily from here; importing this package is cheap.
"""
