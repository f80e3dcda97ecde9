"""Personal data nobody declared: canaries typed into a column the contract keeps in clear
(``products.product_category_name``) or into a landing file's name.

The contract's ``undeclared_pii.on_hit`` decides: fail (default), quarantine or warn. Never
is the value written: not in the error, the logs, the manifest or the quarantine.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.contracts import ContractSet, UndeclaredPii
from pipelines.ingest import ingest_table
from pipelines.ingest.undeclared import UndeclaredPiiError
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import Manifest
from tests.factories import DAY, clean_day, to_csv

EMAIL = "canary.delta@CANARYMAIL.example"
PHONE = "(11) 98888-1234"
CPF = "529.982.247-25"
PLANTED = [EMAIL, "CANARYMAIL", PHONE, "98888-1234", CPF, "529.982"]
INTERVAL = Interval.parse(DAY, "2018-01-02")


def _products(*categories: str) -> list[dict[str, Any]]:
    base = clean_day()["products"][0]
    return [
        {**base, "product_id": f"p{i:031d}", "product_category_name": c}
        for i, c in enumerate(categories, 1)
    ]


def _with_policy(contracts: ContractSet, **policy: Any) -> ContractSet:
    changed = {"undeclared_pii": UndeclaredPii(**policy)}
    return ContractSet(
        contracts[t].model_copy(update=changed) if t == "products" else contracts[t]
        for t in contracts
    )


def _written(data_dir: Path, landing: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and landing not in p.parents]


def _leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [c for c in PLANTED if c.encode() in text]
    return [c for c in PLANTED if c in text]


def _plant(contracts: ContractSet, write_landing: Any) -> None:
    rows = _products("cama_mesa_banho", EMAIL, f"ligue {PHONE}", CPF, "beleza_saude")
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))


def test_default_fails_naming_file_column_and_detector_without_the_value(
    settings, keyring, contracts, write_landing, caplog
):
    _plant(contracts, write_landing)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UndeclaredPiiError) as raised:
        ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    message = str(raised.value)
    for named in ("product_category_name", "EMAIL", "PHONE", "CPF", "olist_products_dataset.csv"):
        assert named in message
    assert "record 2" in message and "record 4" in message  # locators, 1-based records
    assert "undeclared_pii.on_hit" in message and "protection" in message  # what to do
    assert _leaks(message) == [] and _leaks(caplog.text) == []
    assert not (settings.lake / "products" / INTERVAL.partition).exists()
    assert [_leaks(p.read_bytes()) for p in _written(settings.data_dir, settings.landing)] == [
        [] for _ in _written(settings.data_dir, settings.landing)
    ]


def test_quarantine_policy_quarantines_the_rows_encrypted(
    settings, keyring, contracts, write_landing, caplog
):
    _plant(contracts, write_landing)
    caplog.set_level(logging.DEBUG)
    contracts = _with_policy(contracts, on_hit="quarantine")
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 3)
    quarantined = duckdb.sql(
        "SELECT _source_row, failed_check, column_name, reason, "
        "json_extract_string(record, '$.product_category_name') FROM read_parquet(?) "
        "ORDER BY _source_row",
        params=[str(result.partition_dir / "quarantine.parquet")],
    ).fetchall()
    assert [r[:3] for r in quarantined] == [
        (row, "undeclared_pii", "product_category_name") for row in (2, 3, 4)
    ]
    assert [r[3].split(" ")[0] for r in quarantined] == ["EMAIL", "PHONE", "CPF"]
    assert all(r[4].startswith("e") and ":" in r[4] for r in quarantined)  # ciphertexts
    findings = {(f.column, f.entity): f for f in result.manifest.undeclared_pii}
    assert set(findings) == {("product_category_name", e) for e in ("EMAIL", "PHONE", "CPF")}
    assert findings[("product_category_name", "EMAIL")].quarantined == 1
    assert findings[("product_category_name", "EMAIL")].sampled == 5
    assert "undeclared_pii" in caplog.text and _leaks(caplog.text) == []
    leaks = [(p, _leaks(p.read_bytes())) for p in _written(settings.data_dir, settings.landing)]
    assert [leak for leak in leaks if leak[1]] == []


@pytest.mark.parametrize("on_hit", ["warn", "quarantine"])
def test_by_default_every_value_is_read(settings, keyring, contracts, write_landing, on_hit):
    """No ``sample_rows``: one value among 3,002, at record 1,502, is found (a sample of
    1,000 per file read every fourth row and missed it), and quarantine takes exactly it."""
    rows = _products(*["cama_mesa_banho"] * 1501, EMAIL, *["beleza_saude"] * 1500)
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    contracts = _with_policy(contracts, on_hit=on_hit)
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    (finding,) = result.manifest.undeclared_pii
    assert (finding.entity, finding.sampled, finding.hits) == ("EMAIL", 3002, 1)
    assert finding.locators == [f"{DAY}/olist_products_dataset.csv record 1502"]
    quarantined = 1 if on_hit == "quarantine" else 0
    assert (result.counts.loaded, result.counts.quarantined) == (3002 - quarantined, quarantined)
    assert finding.quarantined == quarantined


def test_warn_policy_loads_and_records_the_finding(
    settings, keyring, contracts, write_landing, caplog
):
    rows = _products("cama_mesa_banho", EMAIL)
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    caplog.set_level(logging.DEBUG)
    contracts = _with_policy(contracts, on_hit="warn")
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 0)
    manifest = Manifest.read(result.partition_dir)
    [finding] = manifest.undeclared_pii
    assert (finding.column, finding.entity, finding.policy, finding.hits) == (
        "product_category_name",
        "EMAIL",
        "warn",
        1,
    )
    assert finding.locators == [f"{DAY}/olist_products_dataset.csv record 2"]
    assert "EMAIL" in caplog.text and _leaks(caplog.text) == []
    assert _leaks((result.partition_dir / "manifest.json").read_bytes()) == []


@pytest.mark.parametrize(
    ("part", "entity"),
    [(EMAIL, "EMAIL"), ("73184626105", "CPF"), ("x_529.982.247-25", "CPF")],
    ids=["email", "cpf-after-hyphen", "cpf-after-underscore"],
)
def test_a_file_name_holding_personal_data_fails_whatever_the_policy(
    settings, keyring, contracts, write_landing, caplog, part, entity
):
    rows = _products("cama_mesa_banho")
    name = f"olist_products_dataset-{part}.csv"
    write_landing(DAY, name, to_csv(contracts, "products", rows))
    caplog.set_level(logging.DEBUG)
    for policy in ("fail", "warn"):
        with pytest.raises(UndeclaredPiiError) as raised:
            ingest_table(
                "products",
                INTERVAL,
                settings,
                keyring=keyring,
                contracts=_with_policy(contracts, on_hit=policy),
            )
        message = str(raised.value)
        assert f"[{entity}]" in message and "rename the file" in message
        assert (
            f"olist_products_dataset-{part.split('_')[0] + '_' if '_' in part else ''}[" in message
        )
        assert _leaks(message) == [] and part not in message
    assert _leaks(caplog.text) == []
    assert not (settings.lake / "products" / INTERVAL.partition).exists()


def test_the_sample_is_bounded_per_file(settings, keyring, contracts, write_landing):
    """A 2,000-row file with ``sample_rows: 100`` has 100 values sampled, evenly spread (the
    first record among them); a hit there is found."""
    rows = _products(EMAIL, *["cama_mesa_banho"] * 1999)
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    contracts = _with_policy(contracts, on_hit="warn", sample_rows=100)
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)
    [finding] = result.manifest.undeclared_pii
    assert (finding.sampled, finding.hits) == (100, 1)


# Where a finding shows: PII inventory, lineage, quality results, the portal's findings ----


def test_a_finding_shows_in_inventory_lineage_quality_and_portal(
    settings, keyring, contracts, write_landing
):
    import json

    from openlineage.client.serde import Serde

    from pipelines.ingest.lineage import ingestion_lineage
    from pipelines.lake.findings import undeclared_inventory
    from pipelines.pii_inventory import render_markdown
    from pipelines.portal.data import findings
    from pipelines.quality.runner import validate_partition

    rows = _products("cama_mesa_banho", EMAIL, f"ligue {PHONE}")
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    contracts = _with_policy(contracts, on_hit="warn")
    result = ingest_table("products", INTERVAL, settings, keyring=keyring, contracts=contracts)

    listed = undeclared_inventory(settings)
    assert {(r["table"], r["column"], r["method"]) for r in listed} == {
        ("products", "product_category_name", "EMAIL"),
        ("products", "product_category_name", "PHONE"),
    }
    assert "undeclared" in render_markdown(listed)

    parts = ingestion_lineage(result.manifest, settings, contracts)
    tags = parts.outputs[0].facets["tags"].tags
    assert {(t.key, t.value, t.field) for t in tags if t.key == "undeclared_pii"} == {
        ("undeclared_pii", "EMAIL", "product_category_name"),
        ("undeclared_pii", "PHONE", "product_category_name"),
    }

    validate_partition("products", INTERVAL, settings, run_id="undeclared", contracts=contracts)
    shown = [f for f in findings(settings) if f["kind"] == "undeclared PII"]
    assert {(f["table"], f["column"]) for f in shown} == {("products", "product_category_name")}
    assert {json.loads(f["observed"])["detector"] for f in shown} == {"EMAIL", "PHONE"}
    everything = json.dumps([listed, findings(settings)]) + Serde.to_json(parts.outputs[0])
    assert _leaks(everything) == []


def test_a_large_load_is_sampled_by_whole_vectors_without_reading_the_rest(contracts):
    """Above ``STRIDE_BELOW`` staged rows, a filter on rowids would read the whole table; the
    sample is DuckDB's system sample instead: about ``sample_rows`` per file, in blocks of
    2,048 consecutive rows, rows already failing left out."""
    from pipelines.ingest.undeclared import STRIDE_BELOW, VECTOR, StagedFile, _sample

    rows, files = 3 * STRIDE_BELOW, 3
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE staged AS SELECT md5(i::VARCHAR) AS product_id, 'cama' AS "
        "product_category_name, CASE WHEN i % 2 = 0 THEN NULL ELSE ['x'] END AS _reasons, "
        f"'f' || (i // {STRIDE_BELOW}) AS _source_file, i AS _source_row FROM range({rows}) t(i)"
    )
    columns = contracts["products"].sampled_columns
    by_file = [StagedFile(f"f{k}", k * STRIDE_BELOW, STRIDE_BELOW) for k in range(files)]
    sample = _sample(con, columns, by_file, 1000)
    ids = sample.column("_id").to_pylist()
    assert 0 < len(ids) <= 8 * VECTOR  # of 300,000 rows: a few vectors, half of them failing
    assert all(i % 2 == 0 for i in ids)  # rows already failing are not sampled
    assert len({i // VECTOR for i in ids}) * VECTOR // 2 >= len(ids)  # whole vectors
