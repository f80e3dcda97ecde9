"""Feature tables by declaration: read from the models' YAML, packages on by contracts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.quality.features import feature_suite
from pipelines.settings import PROJECT_DIR, Settings
from pipelines.warehouse.dbt import project_dir, project_vars
from pipelines.warehouse.declared import (
    DeclarationError,
    declared,
    feature_table,
    feature_table_names,
    packages_on,
)

EXAMPLE = PROJECT_DIR / "docs" / "examples"
MART = """\
models:
  - name: customer_rfm
    description: >
      Recency, frequency and monetary value
      per customer.
    config:
      meta:
        owner: shop-data@example.com
        feature_table:
          entity_key: customer_id
          explain: {invoice_lines: customer_id}
    columns:
      - name: customer_id
        constraints: [{type: not_null}]
      - name: as_of_date
        constraints: [{type: not_null}]
      - name: orders
        constraints: [{type: not_null}]
      - name: monetary
"""


def _shop(tmp_path: Path, mart: str = MART) -> Settings:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    shutil.copy(EXAMPLE / "contracts" / "invoice_lines.yml", contracts)
    models = tmp_path / "models" / "features"
    models.mkdir(parents=True)
    (models / "customer_rfm.yml").write_text(mart, encoding="utf-8")
    return Settings(
        data_dir=tmp_path / "data", contracts_dir=contracts, dbt_models_dir=models.parent
    )


def test_the_olist_package_is_on_with_the_repo_contracts() -> None:
    settings = Settings()
    assert packages_on(settings) == ["olist"]
    assert feature_table_names(settings) == (
        "customer_features",
        "product_features",
        "seller_features",
    )
    spec = feature_table(settings, "customer_features")
    assert spec is not None and spec.entity_key == ("customer_unique_token",)
    assert spec.owner == "ml-platform@example.com" and spec.package == "olist"
    assert "customer_unique_token" in spec.not_null and spec.description


def test_a_shop_with_its_own_tables_gets_only_its_own_feature_tables(tmp_path: Path) -> None:
    settings = _shop(tmp_path)
    assert packages_on(settings) == []  # no Olist contracts: the package is off
    assert feature_table_names(settings) == ("customer_rfm",)
    spec = feature_table(settings, "customer_rfm")
    assert spec is not None
    assert spec.as_of == "as_of_date" and spec.explain == {"invoice_lines": "customer_id"}
    assert spec.description == "Recency, frequency and monetary value per customer."
    assert project_vars(settings) == {"feature_packages_on": []}
    # dbt runs in a project shell: every model path inside it (dbt writes compiled SQL beside
    # a model's path; an absolute model path would overwrite the user's files)
    shell = project_dir(settings)
    assert shell == (tmp_path / "data" / "dbt" / "project").resolve()
    assert (shell / "local_models").resolve() == (tmp_path / "models").resolve()
    assert (shell / "models" / "marts" / "customer_features.sql").is_file()
    generated = (shell / "sources" / "_lake__sources.yml").read_text(encoding="utf-8")
    assert "name: invoice_lines" in generated and "name: orders" not in generated
    assert project_dir(settings) == shell  # idempotent


def test_the_repo_contracts_run_the_repo_project(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert project_dir(settings) == PROJECT_DIR / "dbt_project"
    assert project_vars(settings) == {"feature_packages_on": ["olist"]}


def test_default_checks_come_from_the_declaration(tmp_path: Path) -> None:
    settings = _shop(tmp_path)
    spec = feature_table(settings, "customer_rfm")
    assert spec is not None
    names = [e["meta"]["name"] for e in spec.default_expectations()]
    assert names == [
        "rows_present",
        "customer_id_not_null",
        "as_of_date_not_null",
        "orders_not_null",
        "key_unique",
    ]
    suite = feature_suite("customer_rfm", None, "", settings, spec.default_expectations())
    assert all(s.severity == "critical" for s in suite.specs)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("entity_key: customer_id", "entity_key: []", "entity_key must name the key column"),
        ("owner: shop-data@example.com", "team: x", "needs an owner"),
        ("explain: {invoice_lines: customer_id}", "key: customer_id", "unknown field(s) ['key']"),
    ],
)
def test_a_malformed_declaration_names_the_file_and_field(
    tmp_path: Path, replace: str, by: str, message: str
) -> None:
    settings = _shop(tmp_path, MART.replace(replace, by))
    with pytest.raises(DeclarationError) as err:
        declared(settings)
    assert "customer_rfm.yml: model customer_rfm" in str(err.value)
    assert message in str(err.value)
