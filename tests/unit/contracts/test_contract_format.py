"""The contract format: its generated reference and schema, and errors that say what to write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines import contract_docs
from pipelines.cli import main
from pipelines.contracts import (
    Contract,
    ContractError,
    ContractSet,
    load_contract,
    load_contracts,
)
from pipelines.settings import PROJECT_DIR

ORDERS = PROJECT_DIR / "contracts" / "orders.yml"


def write(folder: Path, raw: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or raw['table']}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def minimal(**changes: object) -> dict:
    raw: dict = {
        "table": "lines",
        "version": 1,
        "description": "d",
        "owner": "o",
        "source": {"file_stem": "lines"},
        "primary_key": ["line_id"],
        "columns": [
            {"name": "line_id", "type": "string", "required": True, "description": "id"},
            {"name": "qty", "type": "integer", "description": "q"},
        ],
    }
    raw.update(changes)
    return raw


def error(tmp_path: Path, raw: dict) -> str:
    path = write(tmp_path / "c", raw)
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and ": : " not in message
    return message


def test_the_committed_reference_and_schema_match_the_model():
    assert contract_docs.check_docs() == []


def test_a_stale_reference_is_reported_with_the_command_to_run(tmp_path, monkeypatch):
    stale = tmp_path / "contracts.md"
    stale.write_text("old\n")
    monkeypatch.setattr(contract_docs, "DOCS_FILE", stale)
    monkeypatch.setattr(contract_docs, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(contract_docs, "SCHEMA_FILE", tmp_path / "schema.json")
    assert contract_docs.check_docs() == [
        "contracts.md is out of date with pipelines/contracts.py; "
        "run `pipelines contracts docs` to regenerate it",
        "schema.json is missing; run `pipelines contracts docs` to regenerate it",
    ]


@pytest.mark.parametrize("model", [m for _, m in contract_docs.SECTIONS])
def test_every_field_has_a_description_and_an_example(model):
    for name, field in contract_docs.documented_fields(model).items():
        assert field.description, f"{model.__name__}.{name} has no description"
        assert field.examples, f"{model.__name__}.{name} has no example"
        assert f"| `{name}` |" in contract_docs.render_reference()


def test_every_example_is_accepted_by_the_model():
    """The examples the reference shows are valid values of their fields."""
    example = yaml.safe_load(contract_docs.EXAMPLE_FILE.read_text(encoding="utf-8"))
    for name, field in contract_docs.documented_fields(Contract).items():
        if name in ("table", "primary_key", "columns"):
            continue
        assert field.examples
        Contract.model_validate({**example, name: field.examples[0]})
    raw = minimal()
    column = raw["columns"][1]
    for name, field in contract_docs.documented_fields(
        contract_docs.SECTIONS[2][1]
    ).items():  # columns
        if name in ("name", "protection", "generalize", "pii"):
            continue
        assert field.examples
        Contract.model_validate(
            {**raw, "columns": [raw["columns"][0], {**column, name: field.examples[0]}]}
        )


def test_schema_command_prints_a_json_schema_that_knows_every_field(capsys):
    assert main(["contracts", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "commerce-pipelines source contract"
    assert schema["additionalProperties"] is False
    assert "path" not in schema["properties"]
    assert {"source_name", "name", "type"} <= set(schema["$defs"]["Column"]["properties"])
    assert "file_patterns" in schema["$defs"]["Source"]["properties"]
    assert schema["$defs"]["RowKey"]["properties"]["duplicates"]["enum"] == [
        "keep",
        "quarantine",
        "drop",
    ]


def test_the_repo_contracts_validate_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = contract_docs.json_schema()
    for path in sorted((PROJECT_DIR / "contracts").glob("*.yml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_readme_documents_the_contracts_commands():
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for command in ("pipelines contracts check", "pipelines contracts schema", "docs/contracts.md"):
        assert command in readme


def test_empty_primary_key_without_a_row_key_is_a_contract_error(tmp_path):
    message = error(tmp_path, minimal(primary_key=[]))
    assert "primary_key is empty" in message
    assert "row_key: {duplicates: keep}" in message


def test_a_row_key_with_a_natural_key_is_a_contract_error(tmp_path):
    message = error(tmp_path, minimal(row_key={"duplicates": "keep"}))
    assert "row_key is only for a table without a natural key" in message


def test_an_unknown_field_names_the_fields_to_write(tmp_path):
    message = error(tmp_path, minimal(source={"file_stem": "x", "file_pattern": "*.csv"}))
    assert "source.file_pattern: unknown field, write one of file_stem, " in message
    assert message.endswith("file_patterns (see docs/contracts.md)")


def test_a_missing_field_names_the_column_and_an_example(tmp_path):
    raw = minimal()
    del raw["columns"][1]["type"]
    message = error(tmp_path, raw)
    assert 'columns.1.type (qty): required field is missing, write e.g. type: "decimal(12,2)"' in (
        message
    )


def test_a_source_header_as_column_name_suggests_source_name(tmp_path):
    raw = minimal()
    raw["columns"][1]["name"] = "Customer ID"
    message = error(tmp_path, raw)
    assert "write e.g. name: customer_id and source_name: 'Customer ID'" in message


def test_two_columns_cannot_arrive_under_one_source_name(tmp_path):
    raw = minimal()
    raw["columns"][1]["source_name"] = "line_id"
    assert "two columns arrive under the same source name (line_id)" in error(tmp_path, raw)


def test_an_unknown_type_lists_the_types(tmp_path):
    raw = minimal()
    raw["columns"][1]["type"] = "int"
    assert "unknown column type 'int': write one of string, integer" in error(tmp_path, raw)


def test_cross_contract_errors_name_the_file(tmp_path):
    path = write(
        tmp_path / "c", minimal(foreign_keys=[{"column": "qty", "references": "orders.x"}])
    )
    with pytest.raises(ContractError, match=f"{path}: foreign_keys: .*unknown table 'orders'"):
        load_contracts(path.parent)


def test_new_fields_leave_existing_fingerprints_alone(tmp_path):
    """Manifests and the dbt sources record fingerprints: a contract that does not use the
    new fields keeps its hash; one that uses them gets another."""
    raw = yaml.safe_load(ORDERS.read_text())
    plain = load_contract(write(tmp_path / "a", raw))
    # the dbt sources file records the tag the contract had without these fields
    sources = (PROJECT_DIR / "dbt_project" / "sources" / "_lake__sources.yml").read_text()
    assert f"contract: {plain.version_tag}\n" in sources
    raw["columns"][0]["source_name"] = "OrderId"
    assert load_contract(write(tmp_path / "b", raw)).fingerprint != plain.fingerprint


def test_the_example_contract_passes_contracts_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINES_CONTRACTS_DIR", str(contract_docs.EXAMPLE_FILE.parent))
    assert main(["contracts", "check"]) == 0
    assert "1 contracts in" in capsys.readouterr().out
    assert isinstance(load_contracts(contract_docs.EXAMPLE_FILE.parent), ContractSet)


def test_a_key_column_that_is_not_required_says_what_to_write(tmp_path):
    message = error(tmp_path, minimal(primary_key=["qty"]))
    assert "primary key column 'qty' must be required: write required: true on it" in message


def test_a_key_named_by_its_source_name_lists_the_contract_names(tmp_path):
    raw = minimal(primary_key=["Line ID"])
    raw["columns"][0]["source_name"] = "Line ID"
    message = error(tmp_path, raw)
    assert "primary key column 'Line ID' is not declared: write one of line_id, qty" in message


def test_a_contract_file_named_after_another_table_says_how_to_fix_it(tmp_path):
    path = write(tmp_path / "c", minimal(), name="other")
    with pytest.raises(ContractError, match=r"rename the file to lines\.yml or write table: other"):
        load_contract(path)


def test_a_dropped_key_column_is_a_contract_error(tmp_path):
    """Found by the property test (was a DuckDB binder error at ingestion)."""
    raw = minimal()
    raw["columns"][0].update(pii="direct_identifier", protection="drop")
    assert "primary key column 'line_id' is dropped" in error(tmp_path, raw)


def test_a_contract_that_writes_no_column_is_a_contract_error(tmp_path):
    """Found by the property test (was a DuckDB parser error at ingestion)."""
    raw = minimal(primary_key=[], row_key={"duplicates": "keep"})
    for col in raw["columns"]:
        col.update(type="string", pii="direct_identifier", protection="drop")
    assert "every column is dropped" in error(tmp_path, raw)


def test_a_foreign_key_cycle_names_a_file_and_what_to_do(tmp_path):
    folder = tmp_path / "c"
    a = minimal(table="a", foreign_keys=[{"column": "line_id", "references": "b.line_id"}])
    b = minimal(
        table="b",
        source={"file_stem": "b"},
        foreign_keys=[{"column": "line_id", "references": "a.line_id"}],
    )
    write(folder, a)
    write(folder, b)
    with pytest.raises(ContractError, match=r"c/a\.yml: foreign_keys form a cycle: a -> b -> a"):
        load_contracts(folder)


def test_two_tables_cannot_claim_the_same_files(tmp_path):
    folder = tmp_path / "c"
    write(folder, minimal(table="a", source={"file_stem": "lines", "file_patterns": ["*.csv"]}))
    write(folder, minimal(table="b", source={"file_stem": "other"}))
    with pytest.raises(
        ContractError, match=r"a\.yml and .*b\.yml: source: both claim 'other\.csv'"
    ):
        load_contracts(folder)
    write(folder, minimal(table="b", source={"file_stem": "lines"}))
    with pytest.raises(ContractError, match="both claim file_stem 'lines'"):
        load_contracts(folder)


def test_the_repo_contracts_claim_distinct_files(contracts):
    assert len({c.source.file_stem for c in contracts.values()}) == len(contracts)
