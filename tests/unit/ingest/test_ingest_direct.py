"""Tables without PII load in one DuckDB statement (:mod:`pipelines.ingest.direct`).

The one-statement load must publish exactly what the streaming loader publishes, byte for
byte, and hand a load with a malformed record to the streaming loader.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import generate
from pipelines.generate.defects import KINDS
from pipelines.ingest import IngestResult, ingest_table, readers
from pipelines.ingest import run as run_module
from pipelines.ingest.direct import can_load_direct
from pipelines.ingest.landing import find_landing_files
from pipelines.ingest.readers import open_file
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from tests.factories import whole_landing_run

NO_PII = {"order_items", "order_payments", "products"}  # sellers: seller_city is scrubbed


def _ingest_all(
    landing: Path,
    data_dir: Path,
    keyring: KeyRing,
    contracts: ContractSet,
    *,
    direct: bool,
) -> tuple[dict[str, IngestResult], dict[str, str]]:
    """Every table; also how each was loaded (``direct``, ``streamed`` or ``fell back``)."""
    settings, interval = whole_landing_run(landing, data_dir)
    how: dict[str, str] = {}
    current = [""]
    real_direct, real_stream = run_module.load_direct, run_module.StagedLoader.load

    def load_direct(con, contract, interval, protection, scans):
        parsed = real_direct(con, contract, interval, protection, scans)
        how[contract.table] = "direct" if parsed is not None else "fell back"
        return parsed

    def stream(self, scans):
        how.setdefault(current[0], "streamed")
        return real_stream(self, scans)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "load_direct", load_direct)
        patch.setattr(run_module.StagedLoader, "load", stream)
        if not direct:
            patch.setattr(run_module, "can_load_direct", lambda contract, scans: False)
        results = {}
        for table in contracts.load_order():
            current[0] = table
            results[table] = ingest_table(
                table, interval, settings, keyring=keyring, contracts=contracts
            )
    return results, how


def _same_outputs(a: dict[str, IngestResult], b: dict[str, IngestResult]) -> int:
    quarantined = 0
    for table, result in a.items():
        one, other = result.manifest, b[table].manifest
        assert one.counts == other.counts and one.counts.balanced, table
        assert one.quarantine_by_check == other.quarantine_by_check, table
        assert one.dataset_version == other.dataset_version, table
        assert one.quarantine_version == other.quarantine_version, table
        quarantined += one.counts.quarantined
    return quarantined


@pytest.fixture(scope="module")
def keys() -> KeyRing:
    return KeyRing.generate(note="direct load tests")


def test_tables_without_pii_load_in_one_statement_with_the_streamed_bytes(
    tmp_path, contracts, keys
):
    landing = tmp_path / "landing"
    row_defects = [k for k in KINDS if k != "malformed_line"]
    generate(
        landing, orders=150, days=2, seed=5, defects=row_defects, defect_count=2, chunk_rows=60
    )
    direct, how = _ingest_all(landing, tmp_path / "direct", keys, contracts, direct=True)
    streamed, how_streamed = _ingest_all(
        landing, tmp_path / "stream", keys, contracts, direct=False
    )
    assert {t for t, h in how.items() if h == "direct"} == NO_PII
    assert set(how_streamed.values()) == {"streamed"}
    assert _same_outputs(direct, streamed) > 0  # defective rows went through both loaders
    for table in ("order_items", "order_payments"):  # row numbers across several files
        assert len(direct[table].manifest.source_files) > 1, table


def test_a_malformed_record_sends_the_load_the_streaming_way(tmp_path, contracts, keys):
    landing = tmp_path / "landing"
    generate(
        landing,
        orders=150,
        days=2,
        seed=6,
        defects=["malformed_line"],
        defect_count=2,
        chunk_rows=60,
    )
    direct, how = _ingest_all(landing, tmp_path / "direct", keys, contracts, direct=True)
    streamed, _ = _ingest_all(landing, tmp_path / "stream", keys, contracts, direct=False)
    assert how["order_items"] == how["order_payments"] == "fell back"
    assert how["products"] == "direct"
    for table in ("order_items", "order_payments"):
        assert direct[table].manifest.quarantine_by_check.get("malformed_record", 0) > 0, table
        assert sum(f.malformed for f in direct[table].manifest.source_files) > 0, table
    _same_outputs(direct, streamed)


def _products_csv(rows: int, prefix: str) -> str:
    lines = [",".join(_PRODUCT_HEADER)]
    lines += [
        f"{prefix}{n:08d},cat{n % 7},{n % 50},{n % 900},{n % 5},{n},{n % 90},{n % 40},{n % 30}"
        for n in range(1, rows + 1)
    ]
    return "\n".join(lines) + "\n"


_PRODUCT_HEADER = [
    "product_id",
    "product_category_name",
    "product_name_lenght",
    "product_description_lenght",
    "product_photos_qty",
    "product_weight_g",
    "product_length_cm",
    "product_height_cm",
    "product_width_cm",
]


def test_rows_keep_file_order_when_duckdb_splits_a_file_between_threads(
    settings, keyring, contracts, write_landing, monkeypatch
):
    # Small read buffers: DuckDB parses this uncompressed file in many pieces, on two threads.
    monkeypatch.setattr(readers, "_LINE_LIMITS", "max_line_size=2048, buffer_size=16384")
    settings = settings.model_copy(update={"duckdb_threads": 2})
    rows = 30_000
    write_landing("2018-01-01", "olist_products_dataset.csv", _products_csv(rows, "p"))
    write_landing("2018-01-01", "olist_products_dataset-2.csv", _products_csv(500, "q"))
    result = ingest_table(
        "products",
        Interval.parse("2018-01-01", "2018-01-02"),
        settings,
        keyring=keyring,
        contracts=contracts,
    )
    assert result.counts.loaded == rows + 500
    lake = duckdb.sql(
        "SELECT _source_file, _source_row, product_id "
        f"FROM read_parquet('{result.partition_dir}/data.parquet')"
    ).fetchall()
    ids = {"olist_products_dataset.csv": ("p", rows), "olist_products_dataset-2.csv": ("q", 500)}
    expected = []
    for entry in result.manifest.source_files:  # the load's order
        prefix, count = ids[Path(entry.path).name]
        expected += [(entry.path, n, f"{prefix}{n:08d}") for n in range(1, count + 1)]
    assert lake == expected


def test_only_csv_files_with_one_header_and_no_pii_load_directly(
    settings, contracts, write_landing
):
    source = duckdb.connect()
    header = ",".join(_PRODUCT_HEADER)
    swapped = ",".join([_PRODUCT_HEADER[1], _PRODUCT_HEADER[0], *_PRODUCT_HEADER[2:]])
    day = "2018-01-01"
    one = write_landing(day, "olist_products_dataset.csv", header + "\n")
    two = write_landing(day, "olist_products_dataset-2.csv", swapped + "\n")
    three = write_landing(day, "olist_products_dataset-3.jsonl", "")
    customers = write_landing(
        day, "olist_customers_dataset.csv", ",".join(contracts["customers"].column_names) + "\n"
    )
    interval = Interval.parse(day, "2018-01-02")
    files = {
        f.path: f for f in find_landing_files(settings.landing, contracts["products"], interval)
    }
    products = contracts["products"]

    def scans(*paths):
        return [open_file(source, products, files[p], i) for i, p in enumerate(paths)]

    assert can_load_direct(products, scans(one))
    assert not can_load_direct(products, scans(one, two))  # headers differ
    assert not can_load_direct(products, scans(one, three))  # JSON lines
    assert not can_load_direct(products, [])
    (customer_file,) = find_landing_files(settings.landing, contracts["customers"], interval)
    assert customer_file.path == customers
    customer_scan = open_file(source, contracts["customers"], customer_file, 0)
    assert not can_load_direct(contracts["customers"], [customer_scan])  # PII
