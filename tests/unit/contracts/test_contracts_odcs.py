"""`pipelines contracts export --format odcs`: every contract in contracts/ (and the documented
example of a table without a natural key) exports as an Open Data Contract Standard document
that the standard's own model and JSON Schema accept, carrying keys, relationships and PII."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.contracts import load_contract, load_contracts
from pipelines.odcs import OdcsError, to_odcs, validate
from pipelines.settings import PROJECT_DIR

EXAMPLE = PROJECT_DIR / "docs" / "examples" / "contracts" / "invoice_lines.yml"


def test_every_contract_exports_and_validates(tmp_path: Path, capsys):
    code = main(["--data-dir", str(tmp_path), "contracts", "export", "--format", "odcs"])
    assert code == 0
    contracts = load_contracts(PROJECT_DIR / "contracts")
    files = sorted((tmp_path / "odcs").glob("*.odcs.yaml"))
    assert [p.name.split(".")[0] for p in files] == sorted(contracts)
    for path in files:
        document = validate(path.read_text(), str(path))  # the standard's model and schema
        assert document.apiVersion == "v3.2.0" and document.kind == "DataContract"
    assert "8 contract(s) as ODCS v3.2.0" in capsys.readouterr().out


def test_keys_relationships_and_pii_are_carried(contracts):
    document = to_odcs(contracts["order_items"])
    [table] = document.schema_ or []
    props = {p.name: p for p in table.properties or []}
    keys = sorted((p.primaryKeyPosition, name) for name, p in props.items() if p.primaryKey)
    assert [name for _, name in keys] == contracts["order_items"].primary_key
    [relation] = props["order_id"].relationships or []
    assert relation.to == "orders.order_id"

    customers = to_odcs(contracts["customers"]).schema_[0]  # type: ignore[index]
    unique_id = {p.name: p for p in customers.properties or []}["customer_unique_id"]
    assert unique_id.classification == "indirect_identifier"
    assert "pii" in (unique_id.tags or [])
    assert unique_id.transformLogic and unique_id.transformLogic.startswith("pseudonymized")


def test_a_table_without_a_natural_key_exports_its_row_key_and_source_names():
    contract = load_contract(EXAMPLE)
    text = to_odcs(contract).to_yaml()
    document = validate(text, str(EXAMPLE))
    props = {p.name: p for p in document.schema_[0].properties or []}  # type: ignore[index]
    assert props["_row_key"].primaryKey and props["_row_key"].unique
    assert props["invoice_no"].physicalName == "Invoice"  # the export's header


def test_an_invalid_document_is_refused_naming_where():
    raw = yaml.safe_load(to_odcs(load_contract(EXAMPLE)).to_yaml())
    raw["schema"][0]["properties"][0]["logicalType"] = "text"
    with pytest.raises(OdcsError, match=r"x\.odcs\.yaml: not valid ODCS v3\.2\.0 at schema/0"):
        validate(yaml.safe_dump(raw), "x.odcs.yaml")
