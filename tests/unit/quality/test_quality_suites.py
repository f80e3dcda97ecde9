"""Suites: contract checks are derived (never restated), suite files are valid, references
are consistent with their sources and with the generator's distributions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.contracts import ContractSet, PiiClass, Protection
from pipelines.lake.interval import Interval
from pipelines.quality.plan import quality_plan
from pipelines.quality.reference import REFERENCE_DIR, build_from_olist_full, load_reference
from pipelines.quality.suites import (
    SuiteError,
    build_suite,
    contract_checks,
    file_checks,
    load_suite_file,
)
from pipelines.settings import PROJECT_DIR, Settings
from tests.conftest import SHARED_DATA

INTERVAL = Interval.parse("2018-01-01", "2018-01-02")


def _suite(contracts: ContractSet, table: str):
    return build_suite(contracts[table], contracts, INTERVAL, loaded=10, read=10)


def test_contract_checks_are_derived_from_the_contract(contracts: ContractSet):
    for table, contract in contracts.items():
        names = {s.name for s in contract_checks(contract, contracts, loaded=1, read=1)}
        for col in contract.written_columns:
            assert (f"contract.required.{col.name}" in names) == col.required, col.name
            keep = col.protection is Protection.KEEP
            if keep and col.allowed_values:
                assert f"contract.allowed_values.{col.name}" in names
            if keep and col.pattern:
                assert f"contract.pattern.{col.name}" in names
            if keep and (col.min is not None or col.max is not None):
                assert f"contract.range.{col.name}" in names
            if col.protection in (
                Protection.PSEUDONYMIZE,
                Protection.ENCRYPT,
                Protection.GENERALIZE,
            ):
                assert f"contract.protected.{col.name}" in names
        for fk in contract.foreign_keys:
            assert f"contract.foreign_key.{fk.column}" in names
            assert f"contract.quarantine.orphan_fk.{fk.column}" in names
        assert {"contract.schema", "contract.row_count", "contract.primary_key"} <= names
        assert "contract.quarantine.malformed_record" in names, table


def test_contract_derived_checks_are_critical_and_evidence_checks_warn(contracts: ContractSet):
    for contract in contracts.values():
        for spec in contract_checks(contract, contracts, loaded=1, read=1):
            expected = "warning" if spec.name.startswith("contract.quarantine.") else "critical"
            assert spec.severity == expected, spec.name


def test_suite_files_do_not_restate_contract_checks(contracts: ContractSet):
    for table in contracts:
        suite = load_suite_file(table)
        assert suite.path is not None, f"expectations/{table}.yml is missing"
        derived = {
            (s.type, str(sorted(s.kwargs.items())))
            for s in contract_checks(contracts[table], contracts, loaded=1, read=1)
        }
        for spec in file_checks(suite, contracts[table]):
            assert not spec.name.startswith("contract."), spec.name
            assert spec.source != "contract"
            assert (spec.type, str(sorted(spec.kwargs.items()))) not in derived, spec.name


def test_every_suite_builds_and_queries_select_row_locators_only(contracts: ContractSet):
    for table in contracts:
        suite = _suite(contracts, table)
        assert suite.gx_suite().expectations, table
        assert len({s.name for s in suite.specs}) == len(suite.specs)
        for spec in suite.specs:
            query = spec.kwargs.get("unexpected_rows_query")
            if query:
                head = " ".join(query.split())[:60]
                assert head.startswith(
                    ("SELECT b._source_file, b._source_row ", "SELECT _source_file, _source_row ")
                ), (table, spec.name)
            assert spec.meta["severity"] in ("critical", "warning")


def test_pii_columns_are_marked_on_their_checks(contracts: ContractSet):
    suite = _suite(contracts, "customers")
    marked = {s.name for s in suite.specs if s.pii}
    assert "contract.protected.customer_id" in marked
    assert "customer_state_representative" in marked  # a quasi-identifier
    assert "contract.schema" not in marked
    pii_columns = {c.name for c in contracts["customers"].columns if c.pii is not PiiClass.NONE}
    assert {s.column for s in suite.specs if s.pii} <= pii_columns | {None}


def test_patterns_used_by_suites_are_anchored(contracts: ContractSet):
    for table in contracts:
        for spec in _suite(contracts, table).specs:
            regex = spec.kwargs.get("regex")
            if regex:
                assert regex.startswith("^") and regex.endswith("$"), (table, spec.name)


def _write_suite(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.yml").write_text(body)
    return folder


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name: other\n", "suite name must be"),
        (
            "name: orders\nexpectations:\n  - type: expect_table_row_count_to_be_between\n"
            "    kwargs: {min_value: 1}\n    meta: {name: x, severity: fatal}\n",
            "severity",
        ),
        (
            "name: orders\nexpectations:\n  - type: expect_table_row_count_to_be_between\n"
            "    kwargs: {min_value: 1}\n    meta: {name: x, source: contract}\n",
            "contract checks are derived",
        ),
        (
            "name: orders\nexpectations:\n  - type: expect_column_max_to_be_between\n"
            "    kwargs: {column: order_purchase_timestamp}\n    meta: {name: x, quarantine: true}\n",
            "cannot quarantine",
        ),
        (
            "name: orders\nexpectations:\n  - type: expect_column_shares_to_match_reference\n"
            "    kwargs: {column: order_status, reference: previous_batch}\n"
            "    meta: {name: d, source: drift}\n",
            "follows the representativeness check",
        ),
        (
            "name: orders\nexpectations:\n  - type: expect_column_shares_to_match_reference\n"
            "    kwargs: {column: order_status, reference: nowhere}\n"
            "    meta: {name: r, source: representativeness}\n",
            "not found",
        ),
        ("name: orders\nmeta:\n  disable: {no.such.check: because}\n", "unknown check"),
    ],
)
def test_malformed_suite_files_are_rejected(contracts: ContractSet, tmp_path: Path, body, message):
    folder = _write_suite(tmp_path / "expectations", body)
    (folder / "reference").symlink_to(REFERENCE_DIR)
    with pytest.raises((SuiteError, ValueError), match=message):
        build_suite(contracts["orders"], contracts, INTERVAL, loaded=1, read=1, directory=folder)


def test_quality_plan_orders_tasks_after_the_tables_they_read(contracts: ContractSet):
    plan = quality_plan(Settings().contracts_dir)
    assert plan.order == contracts.load_order()
    assert plan.reads["order_payments"] == ["order_items", "orders"]
    assert plan.reads["order_items"] == ["orders", "products", "sellers"]
    assert plan.reads["customers"] == []


def test_reference_files_are_valid_and_cite_their_source():
    names = [p.stem for p in REFERENCE_DIR.glob("*.yml")]
    assert len(names) >= 7
    for name in names:
        ref = load_reference(name)
        assert ref.source and ref.unit and ref.total > 0
        assert sum(ref.shares.values()) == pytest.approx(1.0)


def test_generated_data_is_drawn_from_the_reference_populations():
    """The generator's distributions (pipelines.generate.distributions) are the declared
    references, so a generated batch passes the representativeness checks."""
    from pipelines.generate import distributions as dist

    pairs = {
        "olist_order_status": dist.ORDER_STATUS,
        "olist_customer_state": dist.CUSTOMER_STATE,
        "olist_payment_type": dist.PAYMENT_TYPE,
        "olist_seller_state": dist.SELLER_STATE,
        "synthetic_gender": dist.GENDER,
        "olist_product_category": {
            ("__missing__" if k is None else k): v for k, v in dist.PRODUCT_CATEGORY.items()
        },
    }
    for name, generated in pairs.items():
        shares = load_reference(name).shares
        assert set(shares) == set(generated), name
        for key, share in generated.items():
            assert shares[key] == pytest.approx(share, abs=1e-9), (name, key)
    ages = load_reference("synthetic_age_band").shares
    for (low, high), share in dist.AGE_BAND.items():
        label = "65+" if low >= 65 else f"{low}-{high}"
        assert ages[label] == pytest.approx(share), label


@pytest.mark.olist
def test_references_from_the_olist_full_tables_match_the_committed_files():
    full = SHARED_DATA / "olist_full"
    if not full.is_dir():
        pytest.skip(f"Olist full tables not available at {full}")
    for ref in build_from_olist_full(full):
        committed = load_reference(ref.name)
        assert committed.counts == ref.counts, ref.name
        assert (REFERENCE_DIR / f"{ref.name}.yml").read_text() == ref.to_yaml()


def test_expectations_folder_has_one_suite_per_lake_table(contracts: ContractSet):
    suites = {p.stem for p in (PROJECT_DIR / "expectations").glob("*.yml")}
    assert suites == set(contracts)
