"""The dbt sources file is generated from the contracts and kept in sync with them."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pipelines.cli import main
from pipelines.contracts import load_contracts
from pipelines.settings import Settings
from pipelines.warehouse.project import SOURCES_FILE
from pipelines.warehouse.sources import check_sources, render_sources, write_sources


def _tables(text: str) -> dict[str, dict]:
    body = yaml.safe_load(text)
    (source,) = body["sources"]
    assert (source["name"], source["schema"]) == ("lake", "lake")
    return {t["name"]: t for t in source["tables"]}


def test_committed_sources_file_matches_the_contracts(contracts):
    assert SOURCES_FILE.read_text(encoding="utf-8") == render_sources(contracts), (
        "dbt_project/sources/_lake__sources.yml is out of date: run `pipelines warehouse sources`"
    )
    assert check_sources(Settings()) is None
    assert main(["warehouse", "sources", "--check"]) == 0


def test_a_contract_change_makes_the_check_fail(tmp_path: Path, contracts):
    changed = tmp_path / "contracts"
    shutil.copytree(Settings().contracts_dir, changed)
    text = (changed / "sellers.yml").read_text(encoding="utf-8")
    (changed / "sellers.yml").write_text(
        text.replace("description: Seller key.", "description: The seller's key."),
        encoding="utf-8",
    )
    settings = Settings(contracts_dir=changed)
    target = tmp_path / "_lake__sources.yml"
    target.write_text(render_sources(contracts), encoding="utf-8")
    problem = check_sources(settings, target)
    assert problem is not None and "out of date" in problem
    assert "pipelines warehouse sources" in problem
    write_sources(settings, target)
    assert check_sources(settings, target) is None
    assert "The seller's key." in target.read_text(encoding="utf-8")
    assert "missing" in (check_sources(settings, tmp_path / "absent.yml") or "")


def test_sources_carry_columns_pii_owners_and_key_tests(contracts):
    tables = _tables(render_sources(contracts))
    assert set(tables) == {*contracts, "partitions"}
    for name, contract in contracts.items():
        table = tables[name]
        assert table["config"]["meta"]["owner"] == contract.owner
        assert table["config"]["meta"]["contract"] == contract.version_tag
        columns = {c["name"]: c for c in table["columns"]}
        # exactly the lake columns: dropped columns are absent, generalized ones renamed
        assert list(columns)[: len(contract.written_columns)] == [
            c.lake_name for c in contract.written_columns
        ]
        assert {"_source_file", "_source_row", "_partition", "_dataset_version"} <= set(columns)
        for col in contract.written_columns:
            entry = columns[col.lake_name]
            assert entry["data_type"] == col.lake_type.lower()
            assert entry["config"]["meta"]["pii"] == col.pii.value
            assert entry["config"]["meta"]["protection"] == col.protection.value
            assert entry["description"].startswith(col.description.strip())
        for key in contract.primary_key:
            assert "not_null" in columns[key]["data_tests"]
        if len(contract.primary_key) == 1:
            assert "unique" in columns[contract.primary_key[0]]["data_tests"]
        else:
            assert table["data_tests"] == [
                {"unique_combination": {"arguments": {"columns": contract.primary_key}}}
            ]
        for fk in contract.foreign_keys:
            assert {
                "relationships": {
                    "arguments": {"to": f"source('lake', '{fk.ref_table}')", "field": fk.ref_column}
                }
            } in columns[fk.column]["data_tests"]
    orders = tables["orders"]["config"]
    assert orders["loaded_at_field"] == "order_purchase_timestamp"
    assert orders["freshness"]["warn_after"] == {"count": 48, "period": "hour"}
    assert "freshness" not in tables["products"]["config"]
    assert "full_name" not in {c["name"] for c in tables["customer_profiles"]["columns"]}
    zip3 = next(c for c in tables["customers"]["columns"] if c["name"] == "customer_zip3")
    assert zip3["config"]["meta"] == {
        "pii": "quasi_identifier",
        "protection": "generalize",
        "generalize": "zip_prefix_3",
        "source_column": "customer_zip_code_prefix",
    }


def test_rendering_is_deterministic():
    contracts = load_contracts(Settings().contracts_dir)
    assert render_sources(contracts) == render_sources(load_contracts(Settings().contracts_dir))
