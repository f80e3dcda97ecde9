"""Ingestion streams records through protection in batches: the batch size must not matter.

Files are split into parts and read in batches of a few records, so batches end inside files
and files end inside the stream; row numbers, order, tokens, ciphertexts and the bytes written
must all be what they would be in one piece. Failures in the reader or in protection stop the
load with their own error and publish nothing.
"""

from __future__ import annotations

import csv
import gzip
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import generate
from pipelines.ingest import IngestResult, ingest_table, stream
from pipelines.ingest import run as run_module
from pipelines.ingest.read_errors import ReadError
from pipelines.ingest.readers import FileOrderError
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import Encryptor, KeyRing, Pseudonymizer
from tests.factories import whole_landing_run

TINY_BATCH = 7


def _ingest_all(
    landing: Path,
    data_dir: Path,
    keyring: KeyRing,
    contracts: ContractSet,
    batch_rows: int,
) -> dict[str, IngestResult]:
    settings, interval = whole_landing_run(landing, data_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stream, "BATCH_ROWS", batch_rows)
        return {
            table: ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
            for table in contracts.load_order()
        }


@pytest.fixture(scope="module")
def keys() -> KeyRing:
    return KeyRing.generate(note="stream tests")


@pytest.fixture(scope="module")
def clean(tmp_path_factory, contracts, keys) -> tuple[Path, dict[str, IngestResult]]:
    """Generated data in parts of 40 records, ingested in batches of 7."""
    root = tmp_path_factory.mktemp("stream-clean")
    generate(root / "landing", orders=120, days=2, seed=3, chunk_rows=40)
    return root / "landing", _ingest_all(root / "landing", root / "data", keys, contracts, 7)


def _landing_records(landing: Path, relative: str) -> list[dict[str, str]]:
    with gzip.open(landing / relative, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _lake(result: IngestResult) -> list[dict]:
    rel = duckdb.connect().sql(f"SELECT * FROM read_parquet('{result.partition_dir}/data.parquet')")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def test_rows_keep_file_order_and_exact_numbers_across_batches_and_parts(clean):
    landing, results = clean
    assert sum(len(r.manifest.source_files) > 1 for r in results.values()) >= 6  # in parts
    for table, result in results.items():
        assert result.counts.quarantined == 0, table
        files = [f.path for f in result.manifest.source_files]
        rows = _lake(result)
        assert [(r["_source_file"], r["_source_row"]) for r in rows] == [
            (path, number)
            for path in files
            for number in range(1, len(_landing_records(landing, path)) + 1)
        ], table


def test_tokens_and_ciphertexts_are_those_of_the_python_primitives(clean, keys):
    landing, results = clean
    tokens, encryptor = Pseudonymizer(keys), Encryptor(keys)
    checked = 0
    for table, result in results.items():
        keyed = [c for c in result.manifest.columns if c.protection in ("pseudonymize", "encrypt")]
        if not keyed:
            continue
        clear = {
            path: _landing_records(landing, path)
            for path in {f.path for f in result.manifest.source_files}
        }
        for row in _lake(result):
            record = clear[row["_source_file"]][row["_source_row"] - 1]
            for column in keyed:
                value = record[column.source_column]
                if value == "":
                    assert row[column.name] is None
                elif column.protection == "pseudonymize":
                    assert row[column.name] == tokens.token(value), (table, column.name)
                else:
                    context = f"{table}.{column.source_column}"
                    assert encryptor.decrypt(row[column.name], context) == value
                    assert row[column.name] == encryptor.encrypt(value, context)
                checked += 1
    assert checked > 500  # customers x2, orders, profiles x3, across batch and part borders


def test_batch_size_does_not_change_a_byte(tmp_path, contracts, keys, monkeypatch):
    landing = tmp_path / "landing"
    generate(landing, orders=150, days=2, seed=9, defects="all", defect_count=2, chunk_rows=50)
    batches = []
    protect = stream.StagedLoader._protect
    monkeypatch.setattr(
        stream.StagedLoader, "_protect", lambda self, b: batches.append(b) or protect(self, b)
    )
    tiny = _ingest_all(landing, tmp_path / "tiny", keys, contracts, TINY_BATCH)
    files = sum(len(r.manifest.source_files) for r in tiny.values())
    assert len(batches) > 2 * files  # most files really were read in several batches
    default = _ingest_all(landing, tmp_path / "default", keys, contracts, stream.BATCH_ROWS)
    quarantined = 0
    for table in contracts:
        a, b = tiny[table].manifest, default[table].manifest
        assert a.counts == b.counts and a.counts.balanced, table
        assert a.dataset_version == b.dataset_version, table
        assert a.quarantine_version == b.quarantine_version, table
        quarantined += a.counts.quarantined
    assert quarantined > 0  # the defects, malformed lines included, went through the same path


def _one_table_day(write_landing, contracts, rows: int) -> None:
    header = ",".join(contracts["customers"].column_names)
    lines = [f"c{i:031d},u{i:031d},01310,sao paulo,SP" for i in range(rows)]
    write_landing("2018-01-01", "olist_customers_dataset.csv", "\n".join([header, *lines]) + "\n")
    write_landing(
        "2018-01-01", "olist_customers_dataset-2.csv", "\n".join([header, *lines[:5]]) + "\n"
    )


INTERVAL = Interval.parse("2018-01-01", "2018-01-02")


def test_a_failing_reader_stops_the_load_with_its_own_error(
    settings, keyring, contracts, write_landing, monkeypatch
):
    _one_table_day(write_landing, contracts, 100)
    real_open, lost = run_module.open_file, []

    def open_then_lose(source, contract, file, index):
        scan = real_open(source, contract, file, index)
        if index == 1:
            file.path.unlink()  # the second file disappears before it is read
            lost.append(file.path.name)
        return scan

    monkeypatch.setattr(run_module, "open_file", open_then_lose)
    monkeypatch.setattr(stream, "BATCH_ROWS", 10)
    threads = threading.active_count()
    with pytest.raises(ReadError, match="DuckDB IOException") as error:
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert lost and lost[0] in str(error.value)  # names the file, withholds DuckDB's message
    assert partitions(settings.lake, "customers") == []
    assert threading.active_count() == threads


def test_a_failing_protection_stops_the_load_with_its_own_error(
    settings, keyring, contracts, write_landing, monkeypatch
):
    _one_table_day(write_landing, contracts, 100)

    def fail(self, values):
        raise RuntimeError("tokens could not be computed (simulated)")

    monkeypatch.setattr(Pseudonymizer, "tokens_arrow", fail)
    monkeypatch.setattr(stream, "BATCH_ROWS", 10)
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="simulated"):
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert partitions(settings.lake, "customers") == []
    assert threading.active_count() == threads


def test_rows_out_of_file_order_are_refused(
    settings, keyring, contracts, write_landing, monkeypatch
):
    _one_table_day(write_landing, contracts, 100)
    protect = stream.StagedLoader._protect

    def reversed_batch(self, batch):
        return protect(self, batch.take(pa.array(range(batch.num_rows - 1, -1, -1))))

    monkeypatch.setattr(stream.StagedLoader, "_protect", reversed_batch)
    monkeypatch.setattr(stream, "BATCH_ROWS", 10)
    with pytest.raises(FileOrderError, match="did not keep file order"):
        ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    assert partitions(settings.lake, "customers") == []


def test_the_instance_that_reads_clear_text_never_spills_to_disk(settings, tmp_path):
    source = run_module._connect(settings, None)
    staged = run_module._connect(settings, tmp_path)
    setting = "SELECT current_setting('temp_directory')"
    assert source.execute(setting).fetchone() == ("",)
    assert staged.execute(setting).fetchone() == (str(tmp_path),)
