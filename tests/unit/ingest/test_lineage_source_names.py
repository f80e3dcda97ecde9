"""Lineage of a table whose columns arrive under other names: landing fields are named as
they arrive (`Customer ID`), lake fields as the contract says (`customer_id`)."""

from __future__ import annotations

from pipelines.ingest.lineage import ingestion_lineage
from tests.unit.ingest.test_ingest_own_data import ingest, own_settings, write_file


def test_landing_fields_carry_source_names_and_lake_fields_contract_names(
    settings, keyring, tmp_path
):
    settings = own_settings(settings, tmp_path)
    write_file(settings, "Online Retail 2010.csv", "csv")
    result = ingest(settings, keyring)
    parts = ingestion_lineage(result.manifest, settings)
    (landing,) = parts.inputs
    fields = [field.name for field in landing.facets["schema"].fields]
    assert fields[:2] == ["Invoice", "StockCode"] and "Customer ID" in fields
    tags = {(t.field, t.key): t.value for t in landing.facets["tags"].tags}
    assert tags[("Customer ID", "protection")] == "pseudonymize"
    (lake,) = parts.outputs
    lineage = lake.facets["columnLineage"].fields
    (customer,) = lineage["customer_id"].inputFields
    assert customer.field == "Customer ID"
    assert any(t.masking for t in customer.transformations)
    assert lineage["invoice_no"].inputFields[0].field == "Invoice"
