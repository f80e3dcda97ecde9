"""The protection-type registry: every stage reads what a protection type is from its entry
in :mod:`pipelines.protection_types` (what the lake holds, masking, key, the gate's pattern,
the dbt, portal and lineage texts); none restates a list of protection names."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from pipelines import protection_types as pt
from pipelines.contracts import Column, Contract, ContractSet
from pipelines.ingest.lineage import ingestion_sql, protection_edge
from pipelines.ingest.transform import KEYED, PRECOMPUTED
from pipelines.lake.interval import Interval
from pipelines.portal.records import pii_map
from pipelines.protection.types import APPLICATIONS, Application
from pipelines.protection_types import PROTECTION_TYPES, Protection
from pipelines.quality.suites import contract_checks
from pipelines.reporting.graph import MASKING_PROTECTIONS
from pipelines.settings import Settings
from pipelines.warehouse.sources import _column as dbt_column

MANIFEST = SimpleNamespace(
    key_versions={"pseudonymization": "p2", "encryption": "e3"},
    interval_end="2018-01-02T00:00:00+00:00",
)


def test_every_protection_name_has_one_complete_entry():
    assert list(PROTECTION_TYPES) == list(Protection)
    for protection, entry in PROTECTION_TYPES.items():
        assert entry.protection is protection
        assert entry.meaning and entry.participle and entry.transform_logic, protection
        if entry.written and entry.masking:
            assert entry.lineage, f"{protection}: the lineage must describe it"
        if entry.key_purpose:
            assert entry.lake_pattern, f"{protection}: the gate must check its lake values"


def test_every_protection_type_has_its_application():
    assert set(APPLICATIONS) == set(PROTECTION_TYPES)
    for protection, entry in PROTECTION_TYPES.items():
        application = APPLICATIONS[protection]
        assert (application.sql is not None) == entry.written, protection
        assert (application.arrow is not None) == entry.precomputed, protection


def test_ingestion_sql_is_the_application_s(
    contracts: ContractSet, monkeypatch: pytest.MonkeyPatch
):
    contract, col = _scrubbed(contracts)
    interval = Interval.parse("2018-01-01", "2018-01-02")
    assert "pipelines_scrub(" in ingestion_sql(contract, interval)
    monkeypatch.setitem(
        APPLICATIONS, Protection.SCRUB, Application(lambda t, keys: (f"test_form({t.raw})", {}))
    )
    assert f'test_form(r."{col.name}")' in ingestion_sql(contract, interval)


def test_the_stages_name_lists_are_the_registry_s():
    assert (
        frozenset(MASKING_PROTECTIONS)
        == {p for p, t in PROTECTION_TYPES.items() if t.masking}
        == {"pseudonymize", "encrypt", "generalize", "scrub", "drop"}
    )
    assert set(KEYED) == {p for p, t in PROTECTION_TYPES.items() if t.key_purpose}
    assert set(PRECOMPUTED) == {p for p, t in PROTECTION_TYPES.items() if t.precomputed}


def _scrubbed(contracts: ContractSet) -> tuple[Contract, Column]:
    contract = contracts["order_reviews"]
    return contract, next(c for c in contract.columns if c.protection is Protection.SCRUB)


def test_a_changed_entry_is_what_every_stage_says(
    contracts: ContractSet, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    changed = dataclasses.replace(
        PROTECTION_TYPES[Protection.SCRUB],
        holds="token",
        meaning="a test meaning",
        dbt_note="A test note.",
        lineage="test: key {key} for {table}.{column}",
        key_purpose="encryption",
        lake_pattern="^test$",
        participle="tested",
    )
    monkeypatch.setitem(PROTECTION_TYPES, Protection.SCRUB, changed)
    contract, col = _scrubbed(contracts)

    assert col.lake_type == "VARCHAR" and col.masked and col.written
    checks = {c.name: c for c in contract_checks(contract, contracts, loaded=1, read=1)}
    gate = checks[f"contract.protected.{col.name}"]
    assert gate.kwargs["regex"] == "^test$"
    assert gate.description == f"{col.name} is stored tested"
    assert dbt_column(contract, col)["description"].endswith("A test note.")
    edge = protection_edge(col, contract, MANIFEST, "ns", "name")
    assert edge.description == f"test: key e3 for order_reviews.{col.name}"
    assert edge.masking
    rows = {(r["table"], r["column"]): r for r in pii_map(settings)}
    assert rows[("order_reviews", col.name)]["meaning"] == "a test meaning"


def test_a_type_that_holds_the_clear_value_is_not_masked(
    contracts: ContractSet, monkeypatch: pytest.MonkeyPatch
):
    clear = dataclasses.replace(PROTECTION_TYPES[Protection.SCRUB], holds="clear")
    monkeypatch.setitem(PROTECTION_TYPES, Protection.SCRUB, clear)
    contract, col = _scrubbed(contracts)
    assert not col.masked
    assert not protection_edge(col, contract, MANIFEST, "ns", "name").masking
    assert pt.names(masking=True) == ("pseudonymize", "encrypt", "generalize", "drop")
