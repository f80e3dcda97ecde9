"""Feature tables by declaration: the dbt models whose YAML carries ``config: meta: feature_table:``.

A feature table is a dbt model (a daily snapshot per as-of date) declared in its properties
YAML, in ``dbt_project/models`` or in your own models folder (the ``dbt_models_dir``
setting)::

    models:
      - name: customer_rfm
        description: Recency, frequency and monetary value per customer.
        config:
          meta:
            owner: shop-data@example.com
            feature_table:
              entity_key: customer_id        # one row per key and as-of date
              as_of: as_of_date              # the snapshot date column (default as_of_date)
              explain: {invoice_lines: customer_id}   # lake table -> its entity key column
              package: olist                 # optional: on only with that package's tables

Every stage reads this list (no Python list to edit): the build exports each declared table,
the DAG checks each one (its GX suite in ``<expectations_dir>/features/<table>.yml`` or checks
derived from the declaration), publication, ``load_features``/``training_set``, assets and
``lineage explain``. A **package** (``vars: feature_packages`` in ``dbt_project.yml``: name ->
the lake tables it reads) is on when every one of its tables has a contract; its models are
enabled through the dbt var ``feature_packages_on`` (:func:`packages_on`), its declared
tables are left out otherwise. Reading is plain YAML (cheap enough for DAG parsing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import Settings
from pipelines.warehouse.project import DBT_PROJECT_DIR
from pipelines.yamlfile import safe_load

_KEYS = {"entity_key", "as_of", "owner", "explain", "package"}


class DeclarationError(ValueError):
    """A feature table declaration is malformed; the message names the file and field."""


@dataclass(frozen=True)
class FeatureTable:
    """One declared feature table."""

    name: str
    entity_key: tuple[str, ...]
    as_of: str
    owner: str
    description: str
    path: Path
    package: str | None = None
    explain: dict[str, str] = field(default_factory=dict)
    not_null: tuple[str, ...] = ()  # columns whose dbt contract says `constraints: not_null`

    @property
    def key(self) -> str:
        """The first entity key column (snapshots are ordered by the key)."""
        return self.entity_key[0]

    def default_expectations(self) -> list[dict[str, Any]]:
        """GX expectations (suite-file form) for a feature table without a suite, derived from
        the declaration and the dbt contract, all critical: rows present, the key, the as-of
        date and every ``not_null``-constrained column not null, the key unique."""
        out = [_check("expect_table_row_count_to_be_between", "rows_present", min_value=1)]
        for column in dict.fromkeys((*self.entity_key, self.as_of, *self.not_null)):
            out.append(
                _check("expect_column_values_to_not_be_null", f"{column}_not_null", column=column)
            )
        if len(self.entity_key) == 1:
            out.append(_check("expect_column_values_to_be_unique", "key_unique", column=self.key))
        else:
            columns = list(self.entity_key)
            out.append(
                _check("expect_compound_columns_to_be_unique", "key_unique", column_list=columns)
            )
        return out


def _check(kind: str, name: str, **kwargs: Any) -> dict[str, Any]:
    meta = {"name": name, "severity": "critical", "source": "business_rule"}
    return {"type": kind, "kwargs": kwargs, "meta": meta}


def model_dirs(settings: Settings) -> list[Path]:
    """The folders dbt reads models from: the repo's, then ``dbt_models_dir`` when set."""
    dirs = [DBT_PROJECT_DIR / "models"]
    if settings.dbt_models_dir is not None:
        dirs.append(settings.dbt_models_dir.resolve())
    return dirs


def feature_packages() -> dict[str, list[str]]:
    """``vars: feature_packages`` of ``dbt_project.yml``: package -> lake tables it reads."""
    raw = safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    packages = (raw.get("vars") or {}).get("feature_packages") or {}
    return {str(k): [str(t) for t in v] for k, v in packages.items()}


def packages_on(settings: Settings, tables: set[str] | None = None) -> list[str]:
    """The packages whose lake tables all have a contract in ``settings.contracts_dir``."""
    if tables is None:
        from pipelines.contracts import load_contracts

        tables = set(load_contracts(settings.contracts_dir).load_order())
    return sorted(p for p, needs in feature_packages().items() if set(needs) <= tables)


def _yaml_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*.yml") if p.is_file())


def _models(path: Path) -> list[dict[str, Any]]:
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path}: not valid YAML: {exc}") from exc
    models = raw.get("models") if isinstance(raw, dict) else None
    return [m for m in models or [] if isinstance(m, dict)]


def _keys(path: Path, name: str, value: Any) -> tuple[str, ...]:
    keys = [value] if isinstance(value, str) else value
    if not keys or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise DeclarationError(
            f"{path}: model {name}: config.meta.feature_table.entity_key must name the key "
            "column(s), e.g. `entity_key: customer_id` or `entity_key: [shop_id, customer_id]`"
        )
    return tuple(keys)


def _table(path: Path, model: dict[str, Any], spec: Any) -> FeatureTable:
    name = str(model.get("name") or "")
    if not isinstance(spec, dict):
        raise DeclarationError(
            f"{path}: model {name}: config.meta.feature_table must be a mapping "
            "(entity_key, as_of, owner, explain, package)"
        )
    unknown = set(spec) - _KEYS
    if unknown:
        raise DeclarationError(
            f"{path}: model {name}: config.meta.feature_table has unknown field(s) "
            f"{sorted(unknown)}; allowed: {sorted(_KEYS)}"
        )
    meta = model["config"]["meta"]
    owner = spec.get("owner") or meta.get("owner")
    if not owner:
        raise DeclarationError(
            f"{path}: model {name}: a feature table needs an owner "
            "(config.meta.owner or config.meta.feature_table.owner: a team e-mail)"
        )
    explain = spec.get("explain") or {}
    if not isinstance(explain, dict):
        raise DeclarationError(
            f"{path}: model {name}: config.meta.feature_table.explain maps each lake table to "
            "the column holding the entity key, e.g. `explain: {invoice_lines: customer_id}`"
        )
    return FeatureTable(
        name=name,
        entity_key=_keys(path, name, spec.get("entity_key")),
        as_of=str(spec.get("as_of") or "as_of_date"),
        owner=str(owner),
        description=" ".join(str(model.get("description") or "").split()),
        path=path,
        package=spec.get("package"),
        explain={str(k): str(v) for k, v in explain.items()},
        not_null=_not_null(model),
    )


def _not_null(model: dict[str, Any]) -> tuple[str, ...]:
    out = []
    for col in model.get("columns") or []:
        kinds = {c.get("type") for c in col.get("constraints") or [] if isinstance(c, dict)}
        if "not_null" in kinds:
            out.append(str(col["name"]))
    return tuple(out)


def declared(settings: Settings) -> list[FeatureTable]:
    """Every feature table declared in the model folders, whatever its package."""
    out: list[FeatureTable] = []
    for folder in model_dirs(settings):
        for path in _yaml_files(folder):
            for model in _models(path):
                meta = (model.get("config") or {}).get("meta") or {}
                if "feature_table" in meta:
                    out.append(_table(path, model, meta["feature_table"]))
    names = [t.name for t in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DeclarationError(f"feature table(s) declared twice: {twice} ({model_dirs(settings)})")
    return out


def feature_tables(settings: Settings) -> list[FeatureTable]:
    """The feature tables that are on: declared, and in no package or in a package that is on."""
    on = set(packages_on(settings))
    return [t for t in declared(settings) if t.package is None or t.package in on]


def feature_table_names(settings: Settings) -> tuple[str, ...]:
    return tuple(t.name for t in feature_tables(settings))


def feature_table(settings: Settings, name: str) -> FeatureTable | None:
    return next((t for t in feature_tables(settings) if t.name == name), None)
