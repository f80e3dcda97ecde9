"""Contracts out as Open Data Contract Standard (ODCS v3.2.0) documents, for data catalogs.

``pipelines contracts export --format odcs`` writes one ``<table>.odcs.yaml`` per contract,
built with the standard's own model (``open-data-contract-standard``) and validated against
the JSON Schema shipped with it, so a catalog that imports ODCS reads them as they are.

What maps where: the table is one schema object (``physicalName``: the landing files' stem);
each column a property with its logical and DuckDB type, ``physicalName`` the header as it
arrives, ``required``, the primary key's position, foreign keys as ``relationships``, its PII
class as ``classification`` and tags, and what ingestion does to it (protection, the lake
name) as ``transformLogic`` and custom properties. Ranges, allowed values and patterns become
quality rules (``invalidValues``). A table without a natural key lists the surrogate
``_row_key`` as its primary key. Nothing in a contract is data, so no value leaves here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from open_data_contract_standard.model import (
    CustomProperty,
    DataQuality,
    Description,
    OpenDataContractStandard,
    Relationship,
    SchemaObject,
    SchemaProperty,
    Server,
    Team,
    TeamMember,
)

from pipelines.contracts import ROW_KEY_COLUMN, Column, Contract, PiiClass
from pipelines.protection_types import protection_type

API_VERSION = "v3.2.0"
_LOGICAL = {
    "string": "string",
    "integer": "integer",
    "double": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


class OdcsError(ValueError):
    """An exported document does not validate against the ODCS schema."""


def _custom(values: dict[str, Any]) -> list[CustomProperty] | None:
    props = [CustomProperty(property=k, value=v) for k, v in values.items() if v is not None]
    return props or None


def _rule(name: str, arguments: dict[str, Any], description: str) -> DataQuality:
    return DataQuality.model_validate(
        {
            "name": name,
            "type": "library",
            "metric": "invalidValues",
            "arguments": arguments,
            "mustBe": 0,
            "description": description,
        }
    )


def _quality(col: Column) -> list[DataQuality] | None:
    rules = []
    if col.min is not None or col.max is not None:
        rules.append(
            _rule(
                f"{col.name}_in_range",
                {"minimum": col.min, "maximum": col.max},
                "ingestion quarantines values outside the range (out_of_range)",
            )
        )
    if col.allowed_values:
        rules.append(
            _rule(
                f"{col.name}_allowed",
                {"validValues": list(col.allowed_values)},
                "ingestion quarantines other values (not_allowed)",
            )
        )
    if col.pattern:
        rules.append(
            _rule(
                f"{col.name}_pattern",
                {"pattern": col.pattern},
                "ingestion quarantines values without a match (pattern_mismatch)",
            )
        )
    return rules or None


def _property(contract: Contract, col: Column) -> SchemaProperty:
    keys = contract.primary_key
    logical = _LOGICAL.get(col.type, "number")  # decimal(p,s)
    tags = [f"pii:{col.pii.value}", f"protection:{col.protection.value}"]
    if col.pii is not PiiClass.NONE:
        tags.insert(0, "pii")
    relationships = [
        Relationship(type="foreignKey", to=f"{fk.ref_table}.{fk.ref_column}")
        for fk in contract.foreign_keys
        if fk.column == col.name
    ]
    return SchemaProperty(
        name=col.name,
        physicalName=col.header,
        physicalType=col.duckdb_type,
        logicalType=logical,
        description=col.description,
        required=col.required,
        primaryKey=col.name in keys or None,
        primaryKeyPosition=keys.index(col.name) + 1 if col.name in keys else None,
        unique=True if keys == [col.name] else None,
        classification="public" if col.pii is PiiClass.NONE else col.pii.value,
        tags=tags,
        transformLogic=protection_type(col.protection).transform_logic,
        encryptedName=col.lake_name
        if protection_type(col.protection).holds == "ciphertext"
        else None,
        relationships=relationships or None,
        quality=_quality(col),
        customProperties=_custom(
            {
                "protection": col.protection.value,
                "generalize": col.generalize.value if col.generalize else None,
                "lakeName": col.lake_name if col.written else None,
                "lakeType": col.lake_type if col.written else None,
            }
        ),
    )


def _row_key(contract: Contract) -> SchemaProperty:
    assert contract.row_key is not None
    return SchemaProperty(
        name=ROW_KEY_COLUMN,
        physicalType="VARCHAR",
        logicalType="string",
        description="Surrogate row key added at ingestion: the fingerprint of the record's "
        "lake values and its occurrence number among identical records, stable across re-runs.",
        required=True,
        primaryKey=True,
        primaryKeyPosition=1,
        unique=True,
        classification="public",
        customProperties=_custom({"exactDuplicates": contract.row_key.duplicates}),
    )


def to_odcs(contract: Contract) -> OpenDataContractStandard:
    """The ODCS document of one contract."""
    properties = [_property(contract, c) for c in contract.columns]
    if contract.row_key is not None:
        properties.append(_row_key(contract))
    table = SchemaObject(
        name=contract.table,
        physicalName=contract.source.file_stem,
        physicalType="file",
        logicalType="object",
        description=contract.description,
        properties=properties,
        customProperties=_custom(
            {
                "filePatterns": list(contract.source.file_patterns) or None,
                "timezone": contract.source.timezone,
                "eventTime": contract.event_time.column if contract.event_time else None,
                "contractFingerprint": contract.version_tag,
            }
        ),
    )
    return OpenDataContractStandard.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "DataContract",
            "id": contract.table,
            "name": contract.table,
            "version": f"{contract.version}.0.0",
            "status": "active",
            "description": Description(purpose=contract.description),
            "team": Team(members=[TeamMember(username=contract.owner, role="owner")]),
            "servers": [
                Server(
                    server="lake",
                    type="local",
                    format="parquet",
                    path=f"lake/{contract.table}/dt=*/data.parquet",
                    description="The protected lake: one partition per data interval.",
                )
            ],
            "schema": [table],
        }
    )


@cache
def _schema() -> dict[str, Any]:
    return dict(json.loads(OpenDataContractStandard.json_schema()))


def validate(document: str, where: str) -> OpenDataContractStandard:
    """Parse ``document`` with the standard's model and check it against its JSON Schema."""
    import jsonschema
    import yaml

    data = yaml.safe_load(document)
    validator = jsonschema.Draft201909Validator(_schema())
    problems = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if problems:
        first = problems[0]
        at = "/".join(str(p) for p in first.path) or "(document)"
        raise OdcsError(f"{where}: not valid ODCS {API_VERSION} at {at}: {first.message}")
    return OpenDataContractStandard.from_string(document)


def export(contracts: list[Contract], out: Path) -> list[Path]:
    """Write and validate ``<out>/<table>.odcs.yaml`` for every contract."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in contracts:
        path = out / f"{contract.table}.odcs.yaml"
        text = to_odcs(contract).to_yaml()
        validate(text, str(path))
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
