"""Static checks of dbt_project/: data minimisation and PII classification against the contracts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.contracts import ContractSet, PiiClass, Protection
from pipelines.warehouse.project import DBT_PROJECT_DIR

MODELS = DBT_PROJECT_DIR / "models"
NEVER_SELECTED = (Protection.ENCRYPT, Protection.SCRUB)


def _model_docs() -> dict[str, tuple[Path, dict[str, Any]]]:
    out = {}
    for path in MODELS.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            out[model["name"]] = (path, model)
    return out


def _lake_column(contracts: ContractSet, ref: str, default_table: str | None):
    table, _, column = ref.rpartition(".")
    contract = contracts[table or str(default_table)]
    return next(c for c in contract.written_columns if c.lake_name == column)


def test_one_model_and_one_yml_per_source_in_staging(contracts: ContractSet):
    staged = {p.stem for p in (MODELS / "staging").glob("stg_*.sql")}
    documented = {p.stem for p in (MODELS / "staging").glob("stg_*.yml")}
    assert staged == documented == {f"stg_{t}" for t in contracts} | {"stg_lake_partitions"}
    for table in contracts:
        sql = (MODELS / "staging" / f"stg_{table}.sql").read_text(encoding="utf-8")
        assert f"source('lake', '{table}')" in sql


def test_encrypted_and_free_text_columns_are_never_selected(contracts: ContractSet):
    """Data minimisation: no model reads a column the contract encrypts or scrubs."""
    forbidden = {
        c.lake_name: f"{t}.{c.lake_name}"
        for t, contract in contracts.items()
        for c in contract.written_columns
        if c.protection in NEVER_SELECTED
    }
    assert {"email", "phone", "review_comment_message"} <= set(forbidden)
    offences = []
    for path in MODELS.rglob("*.sql"):
        text = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))  # not comments
        offences += [
            f"{path.name}: {v}" for k, v in forbidden.items() if re.search(rf"\b{k}\b", text)
        ]
    assert offences == []


def test_pii_meta_matches_the_contracts(contracts: ContractSet):
    docs = _model_docs()
    checked = 0
    for name, (path, model) in docs.items():
        default = name.removeprefix("stg_") if name.startswith("stg_") else None
        for column in model.get("columns", []):
            meta = (column.get("config") or {}).get("meta") or {}
            if "lake_column" not in meta:
                continue
            col = _lake_column(contracts, meta["lake_column"], default)
            where = f"{path.name}: {name}.{column['name']}"
            assert meta["pii"] == col.pii.value, where
            assert meta["protection"] == col.protection.value, where
            assert col.protection not in NEVER_SELECTED, where
            checked += 1
    assert checked >= 15


def test_every_selected_pii_column_of_staging_is_classified(contracts: ContractSet):
    docs = _model_docs()
    for table, contract in contracts.items():
        sql = (MODELS / "staging" / f"stg_{table}.sql").read_text(encoding="utf-8")
        _, model = docs[f"stg_{table}"]
        declared = {
            (c.get("config") or {}).get("meta", {}).get("lake_column")
            for c in model.get("columns", [])
        }
        for col in contract.written_columns:
            if col.pii is PiiClass.NONE or col.protection in NEVER_SELECTED:
                continue
            if re.search(rf"\b{col.lake_name}\b", sql):
                assert col.lake_name in declared, f"stg_{table}: {col.lake_name} has no PII meta"


def test_marts_enforce_contracts_with_types_and_carry_owners_and_pii_meta(
    contracts: ContractSet,
):
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    marts = project["models"]["commerce_features"]["marts"]
    assert marts["+contract"] == {"enforced": True}
    assert marts["+materialized"] == "incremental"
    assert (marts["+incremental_strategy"], marts["+unique_key"]) == ("delete+insert", "as_of_date")
    docs = _model_docs()
    pii_names = {
        c.lake_name
        for contract in contracts.values()
        for c in contract.written_columns
        if c.pii is not PiiClass.NONE
    }
    for name in ("customer_features", "product_features", "seller_features"):
        path, model = docs[name]
        assert path.parent.name == "marts"
        assert model["config"]["meta"]["owner"]
        for column in model["columns"]:
            assert column.get("data_type"), f"{name}.{column['name']} has no data_type"
            meta = (column.get("config") or {}).get("meta") or {}
            if column["name"] in pii_names or column["name"].startswith("customer_"):
                assert meta.get("pii"), f"{name}.{column['name']} needs PII meta"
        names = [c["name"] for c in model["columns"]]
        assert names[1] == "as_of_date" and names[-2:] == ["_release_id", "_run_id"]


def test_every_model_has_an_owner_and_unit_tests_cover_the_feature_logic():
    docs = _model_docs()
    for name, (_, model) in docs.items():
        assert model.get("config", {}).get("meta", {}).get("owner"), name
    unit_tests = []
    for path in MODELS.rglob("*.yml"):
        unit_tests += yaml.safe_load(path.read_text(encoding="utf-8")).get("unit_tests", [])
    covered = {t["model"] for t in unit_tests}
    assert {
        "int_order_facts",
        "customer_features",
        "product_features",
        "seller_features",
    } <= covered
    assert any("after as_of" in t.get("description", "") for t in unit_tests)
