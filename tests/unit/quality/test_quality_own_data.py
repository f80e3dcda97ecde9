"""The quality gate on a table onboarded by contract alone, without a natural key: its lake
schema carries _row_key, the key is checked unique, and exact duplicates the contract drops
do not count as quarantined."""

from __future__ import annotations

from pipelines.contracts import load_contracts
from pipelines.quality.runner import validate_partition
from tests.unit.ingest.test_ingest_own_data import INTERVAL, ingest, own_settings, write_file


def test_the_gate_passes_an_onboarded_table_with_a_row_key(settings, keyring, tmp_path):
    settings = own_settings(settings, tmp_path, row_key={"duplicates": "drop"})
    write_file(settings, "invoice_lines.csv", "csv")
    ingested = ingest(settings, keyring)
    assert ingested.counts.dropped == 1
    result = validate_partition(
        "invoice_lines",
        INTERVAL,
        settings,
        run_id="own-data",
        contracts=load_contracts(settings.contracts_dir),
    )
    outcomes = {c.spec.name: c.outcome for c in result.checks}
    assert outcomes["contract.schema"] == "passed"
    assert outcomes["contract.row_key"] == "passed"
    assert outcomes["contract.row_count"] == "passed"
    assert result.failed_critical == []
