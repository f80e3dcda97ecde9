"""No PII in anything the quality gate writes or prints: results, statistics, Data Docs, logs.

Canary values are planted in the clear-text landing data (``tests.factories.CANARIES``);
after protected ingestion the lake holds only tokens, ciphertexts and generalized values.
Then the lake is tampered with so that checks on PII columns *fail*: a clear-text canary in
a pseudonymized column (as an ingestion bug would leave it) and a duplicated customer token.
The gate runs through its command line (in process, debug logging on), builds Data Docs,
and every file it wrote and everything it printed or logged is searched for the canaries and
for the token.
"""

from __future__ import annotations

import logging
import shutil

import duckdb
import pytest

from pipelines.hashing import file_sha256
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.protection import KeyRing
from pipelines.quality.command import main as quality_main
from pipelines.settings import Settings
from tests.factories import CANARIES, DAY, clean_day, copy_rows, write_day
from tests.unit.quality.conftest import ingest_all

CLEAR_TEXT = "CANARYNAME-in-the-lake"


def test_no_canary_or_token_reaches_results_docs_or_logs(
    settings: Settings,
    keyring: KeyRing,
    contracts,
    write_landing,
    capfd: pytest.CaptureFixture[str],
):
    rows = copy_rows(clean_day())
    rows["customers"][2]["customer_state"] = "XX"  # a quarantined row carrying PII columns
    write_day(write_landing, contracts, rows)
    ingest_all(settings, keyring, contracts, Interval.parse(DAY, "2018-01-02"))

    [part] = partitions(settings.lake, "customers")
    con = duckdb.connect()
    [(token,)] = con.execute(
        f"SELECT customer_id FROM read_parquet('{part.data_file}', hive_partitioning = false) "
        "WHERE _source_row = 2"
    ).fetchall()
    tampered = part.folder.parent / "tampered.parquet"
    con.execute(
        f"COPY (SELECT * REPLACE (CASE WHEN _source_row = 1 THEN '{CLEAR_TEXT}' ELSE customer_id END "
        f"AS customer_id) FROM read_parquet('{part.data_file}', hive_partitioning = false) "
        f"UNION ALL SELECT * FROM read_parquet('{part.data_file}', hive_partitioning = false) "
        f"WHERE _source_row = 2) TO '{tampered}' (FORMAT parquet)"
    )
    shutil.move(tampered, part.data_file)
    # published so (its manifest describes these bytes): a changed file that does not match
    # its manifest is refused before any check (test_quality_lake_integrity.py)
    part.manifest.model_copy(update={"dataset_version": file_sha256(part.data_file)}).write(
        part.folder
    )

    start = ["-v", "--data-dir", str(settings.data_dir)]
    pii_tables = [
        arg
        for table, contract in contracts.items()
        if contract.pii_columns
        for arg in ("--table", table)
    ]
    try:
        codes = [
            quality_main(
                [*start, "validate", *pii_tables, "--start", DAY, "--end", "2018-01-02", "--docs"]
            ),
            quality_main([*start, "summary"]),
            quality_main([*start, "summary", "--format", "json"]),
            quality_main([*start, "history", "--table", "customers"]),
        ]
    finally:
        logging.getLogger().handlers.clear()
    assert codes == [1, 1, 1, 0]  # critical checks failed
    captured = capfd.readouterr()
    output = captured.out + captured.err

    assert "contract.protected.customer_id" in output  # the checks did fail ...
    assert "contract.primary_key" in output
    quality_files = [
        p
        for folder in (settings.data_dir / "quality", settings.data_dir / "reports")
        for p in folder.rglob("*")
        if p.is_file()
    ]
    assert any(p.suffix == ".html" and "validations" in p.parts for p in quality_files)
    assert any(p.name == "customers.json" for p in quality_files)
    leaks = []
    for path in quality_files:
        data = path.read_bytes()
        leaks += [f"{path}: {c}" for c in [*CANARIES, token] if c.encode() in data]
    leaks += [f"output: {c}" for c in [*CANARIES, token] if c in output]
    assert leaks == []
    # ... and nothing outside the tampered lake file holds the planted clear text
    others = [
        p
        for p in settings.data_dir.rglob("*")
        if p.is_file() and settings.landing not in p.parents and p != part.data_file
    ]
    assert not [p for p in others if CLEAR_TEXT.encode() in p.read_bytes()]


def test_observed_values_of_pii_checks_are_withheld_unless_counts_or_statistics():
    from pipelines.quality.runner import WITHHELD, _withhold

    assert _withhold(3) == 3 and _withhold(None) is None
    assert (
        _withhold({"tvd": 0.1, "psi": 0.2, "js_distance": 0.3, "level": "warn"})["level"] == "warn"
    )
    assert _withhold({"unexpected_count": 2, "unexpected_percent": 50.0})["unexpected_count"] == 2
    assert _withhold("p1:0123456789abcdef0123456789abcdef") == WITHHELD
    assert _withhold("1985-06-15") == WITHHELD
    assert _withhold(["F", "M"]) == WITHHELD
    assert _withhold({"most_common": "CANARYNAME"}) == WITHHELD
