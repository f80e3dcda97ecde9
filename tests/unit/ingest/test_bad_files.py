"""The corpus of bad landing files: each is generated here (no data is checked in), and each
ends in a named error or in quarantine with its file, record and reason; the counts always
add up (read = loaded + quarantined), parser messages never quote a record, and the tables
a bad file does not belong to publish exactly what they would have published anyway.

``products`` (no PII: loaded by one DuckDB statement) and ``customers`` (PII: streamed) cover
both ways a CSV load goes; ``customer_profiles`` is the PII table delivered as JSON lines.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import time
import zlib
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_table
from pipelines.ingest.integrity import CorruptFileError, UnreadableFileError, read_to_end
from pipelines.ingest.landing import LandingFile
from pipelines.ingest.read_errors import ReadError
from pipelines.ingest.scratch import remove_stale
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from tests.factories import CANARIES, DAY, clean_day, to_csv, to_jsonl, write_day

INTERVAL = Interval.parse(DAY, "2018-01-02")


def product_rows(n: int) -> list[dict[str, str]]:
    row = clean_day()["products"][0]
    return [dict(row, product_id=f"p{i:031d}", product_name_lenght=str(i)) for i in range(1, n + 1)]


def customer_rows(n: int) -> list[dict[str, str]]:
    row = clean_day()["customers"][0]
    return [
        dict(row, customer_id=f"c{i:031d}", customer_unique_id=f"u{i:031d}")
        for i in range(1, n + 1)
    ]


def deliver(settings, name: str, data: bytes) -> None:
    """Write a landing file byte for byte (``write_landing`` would compress a .gz name)."""
    path = settings.landing / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def ingest(table, settings, keyring, contracts):
    return ingest_table(table, INTERVAL, settings, keyring=keyring, contracts=contracts)


def quarantine(result) -> list[dict]:
    rel = duckdb.connect().sql(
        f"SELECT * FROM read_parquet('{result.partition_dir}/quarantine.parquet') "
        "ORDER BY _source_row"
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def loaded_rows(result) -> list[int]:
    rows = (
        duckdb.connect()
        .execute(f"SELECT _source_row FROM read_parquet('{result.partition_dir}/data.parquet')")
        .fetchall()
    )
    return [r[0] for r in rows]


def assert_balanced(result, read: int, loaded: int, quarantined: int) -> None:
    c = result.counts
    assert (c.read, c.loaded, c.quarantined) == (read, loaded, quarantined)
    assert c.read == c.loaded + c.quarantined


def chain(exc: BaseException | None) -> str:
    """The text of an exception and of every exception it carries (cause and context)."""
    texts = []
    while exc is not None:
        texts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


# --- compressed files: read to the end or fail by name ------------------------------------


@pytest.mark.parametrize(
    ("table", "rows"), [("products", product_rows), ("customers", customer_rows)]
)
def test_a_truncated_gzip_file_is_a_named_error_not_a_shorter_file(
    settings, keyring, contracts, write_landing, table, rows
):
    stem = contracts[table].source.file_stem
    data = gzip.compress(to_csv(contracts, table, rows(3000)).encode(), mtime=0)
    cut = int(len(data) * 0.7)
    deliver(settings, f"{stem}.csv.gz", data[:cut])
    with pytest.raises(CorruptFileError) as err:
        ingest(table, settings, keyring, contracts)
    message = str(err.value)
    assert f"{DAY}/{stem}.csv.gz" in message
    assert f"ends at byte {cut:,}" in message and "truncated" in message
    assert partitions(settings.lake, table) == []


@pytest.mark.parametrize("where", [0.5, -6])  # a block in the middle; the CRC-32 trailer
def test_a_corrupt_gzip_file_is_a_named_error(settings, keyring, contracts, write_landing, where):
    data = bytearray(gzip.compress(to_csv(contracts, "products", product_rows(3000)).encode()))
    data[int(len(data) * where) if where > 0 else where] ^= 0xFF
    deliver(settings, "olist_products_dataset.csv.gz", bytes(data))
    with pytest.raises(
        CorruptFileError,
        match=rf"{DAY}/olist_products_dataset.csv.gz: corrupt gzip data at byte \d",
    ):
        ingest("products", settings, keyring, contracts)
    assert partitions(settings.lake, "products") == []


def test_garbage_named_gzip_is_a_named_error(settings, keyring, contracts):
    deliver(settings, "olist_products_dataset.csv.gz", os.urandom(4096))
    with pytest.raises(
        CorruptFileError, match=r"olist_products_dataset.csv.gz: corrupt gzip data at byte \d"
    ):
        ingest("products", settings, keyring, contracts)


def test_read_to_end_accepts_every_whole_gzip_and_refuses_the_rest(tmp_path: Path):
    body = "".join(f"{i},{i * 7919 % 1000}\n" for i in range(100_000)).encode()
    whole = gzip.compress(body, mtime=0)

    def check(data: bytes) -> str:
        path = tmp_path / "f.csv.gz"
        path.write_bytes(data)
        return read_to_end(LandingFile(path, "d/f.csv.gz", "csv.gz", None))  # type: ignore[arg-type]

    import hashlib

    assert check(whole) == hashlib.sha256(whole).hexdigest()
    check(whole + gzip.compress(b"1,2\n"))  # several members, as `cat a.gz b.gz` makes
    for bad, reason in [
        (whole[:-1], "truncated"),
        (whole[:10], "truncated"),
        (b"", "truncated"),
        (whole + b"junk", "unexpected bytes after the end"),
        (whole[:-8] + zlib.crc32(b"x").to_bytes(4, "little") + whole[-4:], "CRC-32 mismatch"),
        (whole[:-4] + (len(body) + 1).to_bytes(4, "little"), "length mismatch"),
    ]:
        with pytest.raises(CorruptFileError, match=reason):
            check(bad)


# --- encodings and binary data -------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "rows"), [("products", product_rows), ("customers", customer_rows)]
)
@pytest.mark.parametrize("record", [3, 700])  # inside the first 8 KB, and far beyond
def test_invalid_utf8_quarantines_its_record_only(
    settings, keyring, contracts, write_landing, table, rows, record
):
    stem = contracts[table].source.file_stem
    lines = to_csv(contracts, table, rows(1000)).encode().split(b"\n")
    lines[record] = lines[record].replace(b"0", b"\xff", 1)  # a digit of the id
    write_landing(DAY, f"{stem}.csv", b"\n".join(lines))
    result = ingest(table, settings, keyring, contracts)
    assert_balanced(result, 1000, 999, 1)
    [bad] = quarantine(result)
    assert (bad["_source_file"], bad["_source_row"]) == (f"{DAY}/{stem}.csv", record)
    assert bad["failed_check"] == "malformed_record"
    assert "INVALID ENCODING" in bad["reason"]
    assert record not in loaded_rows(result) and len(set(loaded_rows(result))) == 999


@pytest.mark.parametrize(
    ("table", "rows"), [("products", product_rows), ("customers", customer_rows)]
)
@pytest.mark.parametrize("rows_after", [3, 5000])  # the stray quote closes at the end or never
def test_a_stray_quote_that_swallows_records_is_a_named_error_not_a_shorter_file(
    settings, keyring, contracts, write_landing, table, rows, rows_after
):
    """``,"note`` with no closing quote: the parser reads the records after it into one field
    and rejects that record; quarantining it would lose the records inside it."""
    stem = contracts[table].source.file_stem
    lines = to_csv(contracts, table, rows(5 + rows_after)).split("\n")
    lines[5] = lines[5].replace(",", ',"', 1)  # record 5: a quote opens its second field
    write_landing(DAY, f"{stem}.csv", "\n".join(lines).encode())
    with pytest.raises(UnreadableFileError) as err:
        ingest(table, settings, keyring, contracts)
    message = str(err.value)
    assert f"{DAY}/{stem}.csv: the malformed record 5 (at byte " in message
    assert "fix the quote" in message and "Nothing was published" in message
    assert partitions(settings.lake, table) == []


@pytest.mark.parametrize(
    ("table", "rows"), [("products", product_rows), ("customers", customer_rows)]
)
def test_a_malformed_record_over_several_lines_is_quarantined_whole(
    settings, keyring, contracts, write_landing, table, rows
):
    """A record whose quoted field holds line breaks and which has a field too many is one
    malformed record; blank lines are skipped; the records around it load."""
    stem = contracts[table].source.file_stem
    lines = to_csv(contracts, table, rows(8)).split("\n")
    lines[3] = lines[3] + ',"extra\nfield\nover lines"'
    lines.insert(6, "")
    write_landing(DAY, f"{stem}.csv", "\n".join(lines).encode())
    result = ingest(table, settings, keyring, contracts)
    assert_balanced(result, 8, 7, 1)
    [bad] = quarantine(result)
    assert (bad["_source_row"], bad["failed_check"]) == (3, "malformed_record")


def test_a_primary_key_named_like_an_internal_column_quarantines_duplicates(
    settings, keyring, contracts, write_landing
):
    """Key columns named ``id`` or ``first`` (any name a check's own SQL might use)."""
    from pipelines.contracts import Contract, ContractSet

    data = contracts["products"].model_dump(mode="json", exclude_none=True)
    for column in data["columns"]:
        if column["name"] == "product_id":
            column.update(name="id", source_name="product_id")
        if column["name"] == "product_name_lenght":
            column.update(name="first", source_name="product_name_lenght", required=True)
    data["primary_key"] = ["id", "first"]
    only = ContractSet([Contract.model_validate(data)])
    rows = product_rows(4)
    rows[2] = dict(rows[0])  # record 3 repeats record 1's key
    write_landing(DAY, "olist_products_dataset.csv", to_csv(contracts, "products", rows))
    result = ingest("products", settings, keyring, only)
    assert_balanced(result, 4, 3, 1)
    [bad] = quarantine(result)
    assert (bad["_source_row"], bad["failed_check"]) == (3, "duplicate_key")


def test_csv_with_lone_cr_line_ends_is_a_named_error(settings, keyring, contracts, write_landing):
    text = to_csv(contracts, "products", product_rows(3)).replace("\n", "\r")
    write_landing(DAY, "olist_products_dataset.csv", text.encode())
    with pytest.raises(UnreadableFileError) as err:
        ingest("products", settings, keyring, contracts)
    assert "olist_products_dataset.csv: the header line cannot be read as CSV (lone CR" in str(
        err.value
    )


def test_a_header_that_is_not_utf8_is_a_named_error(settings, keyring, contracts, write_landing):
    text = to_csv(contracts, "products", product_rows(3)).encode()
    write_landing(DAY, "olist_products_dataset.csv", b"\xff\xff" + text)
    with pytest.raises(UnreadableFileError) as err:
        ingest("products", settings, keyring, contracts)
    assert "olist_products_dataset.csv: the header line is not UTF-8 text (byte 0)" in str(
        err.value
    )


def test_utf16_text_is_a_named_error(settings, keyring, contracts, write_landing):
    text = to_csv(contracts, "products", product_rows(3))
    write_landing(DAY, "olist_products_dataset.csv", text.encode("utf-16"))
    with pytest.raises(UnreadableFileError, match=r"olist_products_dataset\.csv: UTF-16 text"):
        ingest("products", settings, keyring, contracts)


@pytest.mark.parametrize("name", ["olist_customers_dataset.csv", "olist_customers_dataset.jsonl"])
def test_binary_garbage_is_a_named_error(settings, keyring, contracts, write_landing, name):
    garbage = bytes(range(256)) * 64  # has NUL bytes, no valid header
    write_landing(DAY, name, garbage)
    with pytest.raises(UnreadableFileError) as err:
        ingest("customers", settings, keyring, contracts)
    assert f"{DAY}/{name}: binary data (a NUL byte at byte 0)" in str(err.value)
    assert partitions(settings.lake, "customers") == []


# --- JSON lines: a broken line is quarantined like a broken CSV line ------------------------


def _profiles_jsonl(contracts, write_landing, edit) -> list[bytes]:
    """Clean customers (CSV) and profiles (JSON lines) with ``edit`` applied to the lines."""
    day = clean_day()
    write_day(write_landing, contracts, {"customers": day["customers"]})
    lines = to_jsonl(contracts, "customer_profiles", day["customer_profiles"] * 3).encode()
    edited = edit(lines.split(b"\n")[:-1])
    write_landing(DAY, "synthetic_customer_profiles.jsonl", b"\n".join(edited) + b"\n")
    return edited


@pytest.mark.parametrize(
    ("edit", "bad_line", "reason"),
    [
        (lambda ls: [*ls[:2], ls[2][: len(ls[2]) // 2], *ls[3:]], 3, "invalid JSON"),
        (
            lambda ls: [*ls[:2], ls[2].replace(b'", "', b'"\x1f, "', 1), *ls[3:]],
            3,
            "a raw 0x1F byte",
        ),
        (
            lambda ls: [*ls[:2], ls[2].replace(b"CANARY", b"\xffANARY", 1), *ls[3:]],
            3,
            "INVALID ENCODING",
        ),
        (lambda ls: [*ls[:1], b"", b"[1, 2]", *ls[1:]], 3, "not an object"),
    ],
    ids=["truncated", "unit-separator", "invalid-utf8", "not-an-object"],
)
def test_a_broken_json_line_is_quarantined_and_the_rest_loads(
    settings, keyring, contracts, write_landing, caplog, edit, bad_line, reason
):
    lines = _profiles_jsonl(contracts, write_landing, edit)
    ingest("customers", settings, keyring, contracts)
    with caplog.at_level(logging.DEBUG):
        result = ingest("customer_profiles", settings, keyring, contracts)
    records = sum(1 for line in lines if line.strip())
    quarantined = quarantine(result)
    bad = [q for q in quarantined if q["failed_check"] == "malformed_record"]
    assert [(q["_source_file"], q["_source_row"]) for q in bad] == [
        (f"{DAY}/synthetic_customer_profiles.jsonl", bad_line)
    ]
    assert reason in bad[0]["reason"]
    assert result.counts.read == records == result.counts.loaded + result.counts.quarantined
    # Each loaded line keeps its line number in the file (blank lines count).
    expected = [n for n, line in enumerate(lines, 1) if line.strip() and n != bad_line]
    duplicates = {q["_source_row"] for q in quarantined if q["failed_check"] == "duplicate_key"}
    assert sorted(loaded_rows(result) + sorted(duplicates)) == expected
    # Stored encrypted, never clear; and nothing of it in the log.
    written = json.dumps(bad, default=str) + caplog.text
    assert not [c for c in CANARIES if c in written]
    assert json.loads(bad[0]["record"])["encrypted_record"].startswith("e1:")


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_generated_malformed_json_lines_are_quarantined_where_injected(
    tmp_path, keyring, contracts, fmt
):
    """What the generator's ``--defects malformed_line --format jsonl`` injects."""
    from pipelines.generate import generate
    from tests.factories import whole_landing_run

    landing = tmp_path / "landing"
    generate(landing, orders=150, days=2, seed=5, fmt=fmt, defects="malformed_line")
    defects = json.loads((landing / "_generation.json").read_text())["defects"]
    settings, interval = whole_landing_run(landing, tmp_path / "data")
    results = {
        t: ingest_table(t, interval, settings, keyring=keyring, contracts=contracts)
        for t in contracts.load_order()
    }
    assert defects
    for defect in defects:
        result = results[defect["table"]]
        malformed = [
            (q["_source_file"], q["_source_row"])
            for q in quarantine(result)
            if q["failed_check"] == "malformed_record"
        ]
        assert (defect["file"], defect["row"]) in malformed, defect
    for result in results.values():
        c = result.counts
        assert c.read == c.loaded + c.quarantined
    expected = len(defects)
    assert (
        sum(r.manifest.quarantine_by_check.get("malformed_record", 0) for r in results.values())
        == expected
    )


def test_json_lines_may_end_in_crlf_and_a_lone_cr_is_a_named_error(
    settings, keyring, contracts, write_landing
):
    lines = _profiles_jsonl(contracts, write_landing, lambda ls: [*ls[:2], b"", *ls[2:4]])
    path = settings.landing / DAY / "synthetic_customer_profiles.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")  # a Windows export
    ingest("customers", settings, keyring, contracts)
    result = ingest("customer_profiles", settings, keyring, contracts)
    assert_balanced(result, 4, 2, 2)  # two duplicate keys
    assert sorted(loaded_rows(result)) == [1, 2]
    assert [q["_source_row"] for q in quarantine(result)] == [4, 5]
    path.write_bytes(b"\n".join([lines[0], lines[1][:9] + b"\r" + lines[1][9:]]) + b"\n")
    with pytest.raises(ReadError, match=f"{DAY}/synthetic_customer_profiles.jsonl: line ends"):
        ingest("customer_profiles", settings, keyring, contracts)


# --- parser messages never escape ----------------------------------------------------------


def test_a_duckdb_error_is_reduced_to_file_and_kind(
    settings, keyring, contracts, write_landing, monkeypatch, caplog
):
    """Whatever DuckDB fails on while reading, its message (which can quote the record) does
    not leave ingestion: neither in the exception, its chain, nor the log."""
    from pipelines.ingest import readers

    write_day(write_landing, contracts, {"customers": clean_day()["customers"]})
    real = readers._open_csv

    def quoting_scan(contract, file, index):
        scan = real(contract, file, index)
        scan.raw_sql = (
            "SELECT *, error('Malformed JSON at byte 7 of input: Input: canary.alpha@CANARYMAIL.example') "
            f"FROM ({scan.raw_sql})"
        )
        return scan

    monkeypatch.setattr(readers, "_open_csv", quoting_scan)
    with caplog.at_level(logging.DEBUG), pytest.raises(ReadError) as err:
        ingest("customers", settings, keyring, contracts)
    text = chain(err.value)
    assert f"{DAY}/olist_customers_dataset.csv: malformed JSON (byte 7 of the value)" in text
    assert "CANARY" not in text and "CANARY" not in caplog.text
    assert partitions(settings.lake, "customers") == []


# --- small items ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "what"),
    [
        ("olist_products_dataset.csv", "HEADER", "holds no records"),
        ("olist_products_dataset.csv.gz", "HEADER", "holds no records"),
        ("olist_products_dataset.csv", "", "is empty"),
        ("olist_products_dataset.jsonl", "\n\n", "holds no records"),
    ],
)
def test_a_file_without_records_publishes_an_empty_partition_with_a_warning(
    settings, keyring, contracts, write_landing, caplog, name, text, what
):
    header = ",".join(contracts["products"].column_names) + "\n"
    write_landing(DAY, name, text.replace("HEADER", header))
    with caplog.at_level(logging.WARNING):
        result = ingest("products", settings, keyring, contracts)
    assert_balanced(result, 0, 0, 0)
    assert result.warnings == (
        f"{DAY}/{name} {what}: it adds nothing to the partition; check that the export was "
        "complete",
    )
    assert result.warnings[0] in caplog.text


def test_a_bad_file_leaves_other_tables_exactly_as_they_were(
    settings, keyring, contracts, write_landing
):
    write_day(write_landing, contracts, clean_day())
    before = {t: ingest(t, settings, keyring, contracts) for t in ("products", "sellers")}
    data = gzip.compress(to_csv(contracts, "products", product_rows(2000)).encode())
    (settings.landing / DAY / "olist_products_dataset.csv").unlink()
    deliver(settings, "olist_products_dataset.csv.gz", data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        ingest("products", settings, keyring, contracts)
    after = ingest("sellers", settings, keyring, contracts)
    assert after.manifest.dataset_version == before["sellers"].manifest.dataset_version
    [kept] = partitions(settings.lake, "products")
    assert kept.manifest.dataset_version == before["products"].manifest.dataset_version


def test_scratch_folders_of_killed_runs_are_removed_and_live_ones_kept(
    settings, keyring, contracts, write_landing
):
    root = settings.data_dir / "tmp"
    root.mkdir(parents=True)
    old = root / "ingest-orders-before-locks"  # a version without locks, killed long ago
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    recent = root / "ingest-orders-recent-lockless"
    recent.mkdir()
    killed = root / "ingest-orders-killed"
    killed.mkdir()
    (root / "ingest-orders-killed.lock").touch()  # its holder is gone: nobody holds it
    (root / "ingest-orders-before-mkdir.lock").touch()  # killed between lock and folder
    live = root / "ingest-orders-live"
    live.mkdir()
    holder = os.open(root / "ingest-orders-live.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a run in flight (this process)
    try:
        write_day(write_landing, contracts, {"products": clean_day()["products"]})
        ingest("products", settings, keyring, contracts)
        assert sorted(p.name for p in root.iterdir()) == [
            "ingest-orders-live",
            "ingest-orders-live.lock",
            "ingest-orders-recent-lockless",
        ]
    finally:
        os.close(holder)
    assert remove_stale(root) == [live]


def test_ingest_all_goes_on_after_a_failed_table_and_names_every_failure(
    settings, keyring, contracts, write_landing, monkeypatch, capsys
):
    from pipelines.cli import main

    write_day(write_landing, contracts, clean_day())
    (settings.landing / DAY / "olist_products_dataset.csv").unlink()
    deliver(settings, "olist_products_dataset.csv.gz", b"\x1f\x8b\x08\x00 cut short")
    monkeypatch.setenv("PIPELINES_KEYS", keyring.to_json())
    argv = ["--data-dir", str(settings.data_dir), "ingest", "--all", "--start", DAY]
    code = main([*argv, "--end", "2018-01-02"])
    err = capsys.readouterr().err
    assert code == 1
    # order_items references products: checked against a partition that is not there it
    # would quarantine every row, so it is skipped and named too.
    assert "ingestion failed for 2 table(s): products, order_items" in err
    assert f"error: products: {DAY}/olist_products_dataset.csv.gz: " in err
    assert "error: order_items: skipped, because products failed" in err
    ingested = {t for t in contracts if partitions(settings.lake, t)}
    assert ingested == set(contracts) - {"products", "order_items"}


def test_a_failed_ingest_task_reports_no_record_text_in_its_fail_event(
    tmp_path, contracts, monkeypatch, caplog
):
    """What issue #13 saw: the ingest task's exception, log and OpenLineage FAIL event."""
    from pipelines import tasks
    from pipelines.ingest import readers
    from pipelines.lineage import client
    from pipelines.protection import create_keyring
    from tests.unit.lineage.emit_helpers import END, RUN_ID, START, pipeline_env

    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    real = readers._open_jsonl

    def quoting_scan(source, contract, file, index):
        scan = real(source, contract, file, index)
        # the filter the reader had before: JSON functions on lines not known to be valid
        scan.raw_sql = scan.raw_sql.replace("AND is_object", "AND json_type(j) = 'OBJECT'")
        return scan

    monkeypatch.setattr(readers, "_open_jsonl", quoting_scan)
    with pipeline_env(tmp_path, key_file) as settings:
        broken = to_jsonl(contracts, "customers", clean_day()["customers"])[:-40] + "\n"
        (settings.landing / DAY).mkdir(parents=True)
        (settings.landing / DAY / "olist_customers_dataset.jsonl").write_text(broken)
        with caplog.at_level(logging.DEBUG), pytest.raises(ReadError) as err:
            tasks.ingest("customers", START, END, RUN_ID)
        events = client.read_events(settings)
    [fail] = [e for e in events if e["eventType"] == "FAIL"]
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "olist_customers_dataset.jsonl: malformed JSON" in message
    written = chain(err.value) + caplog.text + json.dumps(events)
    assert not [c for c in CANARIES if c in written]
