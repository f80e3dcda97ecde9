"""No clear-text PII in anything ingestion writes: lake, quarantine, manifests, logs, output.

Canary values are planted in every PII column and in review texts, including rows that are
quarantined and a line too malformed to parse; then every byte the pipeline wrote (outside
the landing folder it reads from) and everything it printed is searched for them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipelines.protection import create_keyring
from tests.factories import CANARIES, DAY, clean_day, copy_rows, to_csv, write_day


def _written_files(data_dir: Path, landing: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and landing not in p.parents]


def _quarantined(lake: Path) -> set[tuple[str, str, str]]:
    import duckdb

    rows = duckdb.sql(
        "SELECT filename, failed_check, column_name FROM "
        f"read_parquet('{lake}/*/*/quarantine.parquet', filename = true)"
    ).fetchall()
    return {(Path(f).parent.parent.name, check, column) for f, check, column in rows}


def _plant(contracts, write_landing) -> None:  # type: ignore[no-untyped-def]
    """The day's landing files with canaries in PII columns, quarantined rows and a line too
    malformed to parse."""
    rows = copy_rows(clean_day())
    rows["customer_profiles"][1]["birth_date"] = "CANARYNAME-not-a-date"  # quarantined row
    rows["customers"][2]["customer_state"] = "XX"  # quarantined row with PII columns
    # Personal data typed into columns that hold none: quarantined, never kept in clear
    # (not_allowed on a streamed table, type_error, not_allowed on a one-statement table).
    rows["orders"][2]["order_status"] = "canary.epsilon@CANARYMAIL.example"
    rows["order_reviews"][1]["review_score"] = "(11) 97777-5555"
    rows["order_payments"][0]["payment_type"] = "canary.zeta@CANARYMAIL.example"
    write_day(write_landing, contracts, rows)
    header = ",".join(contracts["customer_profiles"].column_names)
    good = to_csv(contracts, "customer_profiles", rows["customer_profiles"]).splitlines()[1:]
    malformed = "u0000000000000000000000000000009,CANARYNAME Gamma,canary.gamma@CANARYMAIL.example"
    write_landing(DAY, "olist_customers_dataset-extra.csv", to_csv(contracts, "customers", []))
    write_landing(
        DAY,
        "synthetic_customer_profiles.csv",
        "\n".join([header, *good, malformed]) + "\n",
    )


CANARIES_ALL = [*CANARIES, "canary.gamma", "canary.epsilon", "canary.zeta", "97777-5555"]


def test_no_canary_leaves_the_pipeline(settings, contracts, write_landing, tmp_path: Path):
    _plant(contracts, write_landing)
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    env = dict(
        os.environ, PIPELINES_DATA_DIR=str(settings.data_dir), PIPELINES_KEY_FILE=str(key_file)
    )
    commands = [
        ["ingest", "--all", "--start", DAY, "--end", "2018-01-02", "--run-id", "canary-test"],
        ["summary"],
        ["pii", "inventory"],
        ["-v", "summary", "--format", "json"],
        # representativeness released through OpenDP: records, audit and lineage
        ["privacy", "dp-representativeness", "--actor", "gov", "--reason", "portal"],
    ]
    output = ""
    for args in commands:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        output += done.stdout + done.stderr

    assert "quarantined" in output
    assert "lake.customers/dt=2018-01-01 customer_state: released" in output
    files = _written_files(settings.data_dir, settings.landing)
    assert any(f.name == "quarantine.parquet" for f in files)
    failed = _quarantined(settings.lake)
    assert ("orders", "not_allowed", "order_status") in failed
    assert ("order_reviews", "type_error", "review_score") in failed
    assert ("order_payments", "not_allowed", "payment_type") in failed
    canaries = CANARIES_ALL
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path}: {c}" for c in canaries if c.encode() in data]
    leaks += [f"output: {c}" for c in canaries if c in output]
    assert leaks == []


def _postgres_text(url: str) -> str:
    """Every row of every table in the URL's schema, as text."""
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con, con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema()")  # fmt: skip
            tables = [row[0] for row in cur.fetchall()]
            text = ""
            for table in tables:
                cur.execute(f'SELECT t::text FROM "{table}" AS t')
                text += "\n".join(row[0] for row in cur.fetchall())
    finally:
        con.close()
    return text


def _ingest_planted(  # type: ignore[no-untyped-def]
    settings, contracts, write_landing, tmp_path: Path, pg_url: str, monkeypatch, run_id: str
) -> None:
    """The planted day through the DAG's ingestion tasks, with the audit log, lineage events
    and locks in PostgreSQL (and whatever else ``monkeypatch`` set); some rows quarantined."""
    from datetime import UTC, datetime

    from pipelines import tasks
    from tests.unit.lineage.emit_helpers import pipeline_env

    _plant(contracts, write_landing)
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    for name in ("LINEAGE_URL", "AUDIT_URL", "LOCK_URL"):
        monkeypatch.setenv(f"PIPELINES_{name}", pg_url)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC)
    with pipeline_env(settings.data_dir, key_file):
        quarantined = sum(
            tasks.ingest(table, start, end, run_id)["quarantined"]
            for table in contracts.load_order()
        )
    assert quarantined > 0


def test_no_canary_reaches_the_postgres_state(
    settings, contracts, write_landing, tmp_path: Path, pg_url: str, monkeypatch
):
    """The DAG's ingestion tasks (lineage on) with lineage events, the audit log and the
    partition locks in PostgreSQL: events land in the table, not in a file, and no canary
    reaches any table."""
    _ingest_planted(settings, contracts, write_landing, tmp_path, pg_url, monkeypatch, "canary-pg")
    text = _postgres_text(pg_url)
    assert '"eventType"' in text and "pipelines_ingestion" in text
    assert not (settings.data_dir / "lineage" / "events.jsonl").exists()
    assert not (settings.lake / ".locks").exists()  # the locks were advisory locks
    assert [c for c in CANARIES_ALL if c in text] == []


def _store_text(s3_env, prefix: str) -> str:
    """Every object under ``s3://<bucket>/<prefix>/``, as text (bytes decoded leniently)."""
    from pipelines.lake import s3client

    client = s3client.shared_client()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=s3_env.bucket, Prefix=f"{prefix}/"
    )
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys, prefix
    bodies = (client.get_object(Bucket=s3_env.bucket, Key=k)["Body"].read() for k in keys)
    return "\n".join(b.decode("utf-8", "replace") for b in bodies)


def test_no_canary_reaches_the_store_or_the_lake_catalog(
    settings, contracts, write_landing, tmp_path: Path, pg_url: str, s3_env, catalog_url,
    monkeypatch,
):  # fmt: skip
    """The ingestion tasks with the lake on S3 and its DuckLake catalog: no canary in any
    object on the store, nor in any table of the catalog's database (manifest rows, commit
    messages and extra info, the column statistics of lake and quarantine tables)."""
    monkeypatch.setenv("PIPELINES_LAKE_URL", f"s3://{s3_env.bucket}/{tmp_path.name}")
    monkeypatch.setenv("PIPELINES_LAKE_CATALOG_URL", catalog_url.get_secret_value())
    run = "canary-catalog"
    _ingest_planted(settings, contracts, write_landing, tmp_path, pg_url, monkeypatch, run)
    catalog = _postgres_text(catalog_url.get_secret_value())
    assert "dataset_version" in catalog and run in catalog  # manifests, commits
    stored = _store_text(s3_env, tmp_path.name)
    leaks = [f"catalog: {c}" for c in CANARIES_ALL if c in catalog]
    leaks += [f"store: {c}" for c in CANARIES_ALL if c in stored]
    assert leaks == []


# Clear values staging needs: the e-mail (pattern check), the birth date (generalized to an
# age band) and review texts (scrubbed in SQL). Everything else stays in the reading instance.
NEEDED_IN_STAGING = {"CANARYMAIL", "canary.alpha", "canary.beta", "canary.review", "98888-7777"}
NEEDED_IN_STAGING |= {"1985-06-15", "2001-12-31"}


def test_clear_values_staging_does_not_need_never_reach_it(
    settings, keyring, contracts, write_landing, monkeypatch
):
    """Ids, names, phones, cities and street addresses never enter the staging instance (which
    may spill to disk): their tokens, ciphertexts or presence markers stand in for them, and
    the required checks on them still hold."""
    from pipelines.ingest import ingest_table
    from pipelines.ingest import stream as stream_module
    from pipelines.lake.interval import Interval

    rows = copy_rows(clean_day())
    rows["customer_profiles"][0]["full_name"] = None  # dropped column, required
    rows["customers"][1]["customer_unique_id"] = None  # pseudonymized column, required
    write_day(write_landing, contracts, rows)
    staged_batches = []
    protect = stream_module.StagedLoader._protect

    def spy(self, batch):
        out = protect(self, batch)
        staged_batches.append(out)
        return out

    monkeypatch.setattr(stream_module.StagedLoader, "_protect", spy)
    interval = Interval.parse(DAY, "2018-01-02")
    results = {
        table: ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
        for table in contracts.load_order()
    }
    crossed = "\n".join(str(batch.to_pylist()) for batch in staged_batches)
    assert "CANARYMAIL" in crossed  # the spy saw the stream
    kept_back = [c for c in CANARIES if c not in NEEDED_IN_STAGING]
    assert [c for c in kept_back if c in crossed] == []

    import duckdb

    failed = duckdb.sql(
        "SELECT column_name, failed_check FROM read_parquet(?) UNION ALL "
        "SELECT column_name, failed_check FROM read_parquet(?)",
        params=[
            str(results["customer_profiles"].partition_dir / "quarantine.parquet"),
            str(results["customers"].partition_dir / "quarantine.parquet"),
        ],
    ).fetchall()
    assert ("full_name", "required_missing") in failed
    assert ("customer_unique_id", "required_missing") in failed


# Exceptions: a parser error quoting a PII record, raised inside a task or a command -----------

CANARY_EMAIL = "canary.alpha@CANARYMAIL.example"


def _parser_error(folder: Path) -> Exception:
    """A real DuckDB error for a truncated JSON line of ``customer_profiles``: its message
    quotes the record (the e-mail, the name), as the red team saw in the task log."""
    import duckdb

    path = folder / "synthetic_customer_profiles.jsonl"
    path.write_text(
        f'{{"email": "{CANARY_EMAIL}", "full_name": "CANARYNAME Alpha", "x": "\x1f\n',
        encoding="utf-8",
    )
    try:
        duckdb.sql(
            f"SELECT CAST(j AS JSON) FROM read_csv('{path}', header=false, delim=chr(1), "
            "quote='', columns={'j': 'VARCHAR'})"
        ).fetchall()
    except duckdb.Error as exc:
        assert "CANARYMAIL" in str(exc)  # the premise
        return exc
    raise AssertionError("the truncated line parsed")


def _leaks(text: str) -> list[str]:
    return [c for c in [*CANARIES, "canary."] if c in text]


def test_a_parser_error_inside_a_task_leaves_no_canary_in_log_event_or_store(
    settings, tmp_path: Path, monkeypatch
):
    import logging
    import traceback
    from datetime import UTC, datetime

    from pipelines.lineage import client
    from pipelines.reporting.store import events_path, open_store, rebuild_store, store_path
    from pipelines.taskscope import task_scope

    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    client.reset_clients()
    error = _parser_error(tmp_path)
    task_log = io.StringIO()  # stands in for Airflow's task log handler on the root logger
    handler = logging.StreamHandler(task_log)
    logging.getLogger().addHandler(handler)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC)
    try:
        with (
            pytest.raises(Exception) as raised,
            task_scope("ingest_customer_profiles", start, end, "canary-run", settings),
        ):
            logging.getLogger("pipelines.ingest.run").error("reading failed: %s", error)
            raise error
        # What Airflow writes for the failed try: the exception, its chain, its traceback.
        logging.getLogger("pipelines.test").error("Task failed", exc_info=raised.value)
        task_log.write("".join(traceback.format_exception(raised.value)))
    finally:
        logging.getLogger().removeHandler(handler)
        client.reset_clients()

    assert raised.value is error  # the class is kept: Airflow's retries are unchanged
    log_text = task_log.getvalue()
    assert _leaks(log_text) == []
    assert "ConversionException" in log_text and "byte" in log_text

    events = [e for e in client.read_events(settings) if e["eventType"] == "FAIL"]
    [message] = [e["run"]["facets"]["errorMessage"]["message"] for e in events]
    assert _leaks(message) == []
    assert message.startswith("ConversionException: ") and "byte" in message

    rebuild_store(events_path(settings), store_path(settings))
    with open_store(settings) as con:
        stored = [r[0] for r in con.execute("SELECT error_message FROM runs").fetchall() if r[0]]
    assert stored == [message]


def test_a_command_failing_with_a_parser_error_prints_no_canary(
    settings, tmp_path: Path, monkeypatch, capsys
):
    """Through ``ingest``'s own per-table handler and through the main handler (``summary``),
    with and without ``-v`` (which prints the traceback)."""
    import pipelines.ingest
    import pipelines.summary
    from pipelines import cli

    error = _parser_error(tmp_path)

    def fail(*args, **kwargs):
        raise ValueError(f"could not read a record of {CANARY_EMAIL}") from error

    monkeypatch.setattr(pipelines.ingest, "ingest_table", fail)
    monkeypatch.setattr(pipelines.summary, "print_summary", fail)
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(settings.data_dir))
    ingest = ["ingest", "--table", "customer_profiles", "--start", DAY, "--end", "2018-01-02"]
    for args in (ingest, ["-v", *ingest], ["summary"], ["-v", "summary"]):
        status = cli.main(args)
        printed = capsys.readouterr()
        assert status == 1
        assert _leaks(printed.out + printed.err) == [], args
        assert "ValueError" in printed.err
    assert "ConversionException" in printed.err and "Traceback" in printed.err  # -v summary


def test_bad_json_lines_of_a_pii_table_leave_no_canary_through_the_tasks(tmp_path: Path, contracts):
    """The red team's case end to end: ``customer_profiles`` delivered as JSON lines with a
    truncated record and a raw 0x1F byte inside a value, ingested by the DAG's task function
    (``pipelines.tasks.ingest``, lineage on). Whether a table loads, quarantines or fails,
    nothing written, logged, raised or emitted holds a canary."""
    import logging
    import traceback
    from datetime import UTC, datetime

    from pipelines import tasks
    from tests.factories import to_jsonl
    from tests.unit.lineage.emit_helpers import pipeline_env

    data_dir = tmp_path / "data"
    landing = data_dir / "landing" / DAY
    landing.mkdir(parents=True)
    rows = clean_day()
    for table, table_rows in rows.items():
        if table != "customer_profiles":
            stem = contracts[table].source.file_stem
            (landing / f"{stem}.csv").write_text(to_csv(contracts, table, table_rows))
    good = to_jsonl(contracts, "customer_profiles", rows["customer_profiles"])
    bad = [
        '{"customer_unique_id": "u9", "email": "canary.eta@CANARYMAIL.example\x1f", '
        '"full_name": "CANARYNAME Eta"}',
        '{"customer_unique_id": "u8", "email": "canary.theta@CANARYMAIL.example", "full_na',
    ]
    stem = contracts["customer_profiles"].source.file_stem
    (landing / f"{stem}.jsonl").write_text(good + "\n".join(bad) + "\n", encoding="utf-8")
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    task_log = io.StringIO()
    handler = logging.StreamHandler(task_log)
    logging.getLogger().addHandler(handler)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC)
    outcomes = {}
    try:
        with pipeline_env(data_dir, key_file) as settings:
            for table in contracts.load_order():
                try:
                    outcomes[table] = tasks.ingest(table, start, end, "canary-json")
                except Exception as exc:  # what Airflow would write to the task log
                    task_log.write("".join(traceback.format_exception(exc)))
                    outcomes[table] = exc
    finally:
        logging.getLogger().removeHandler(handler)
    profiles = outcomes["customer_profiles"]  # quarantined per record, or the task failed
    assert isinstance(profiles, Exception) or profiles["quarantined"] == len(bad), profiles
    canaries = [*CANARIES, "canary.eta", "canary.theta"]
    written = [p for p in settings.data_dir.rglob("*") if p.is_file() and landing not in p.parents]
    assert any(p.name == "events.jsonl" for p in written)
    leaks = [f"{p}: {c}" for p in written for c in canaries if c.encode() in p.read_bytes()]
    leaks += [f"log: {c}" for c in canaries if c in task_log.getvalue()]
    leaks += [f"result: {c}" for c in canaries if c in repr(outcomes)]
    assert leaks == []


def test_undeclared_pii_leaves_no_canary_through_the_tasks(tmp_path: Path, contracts):
    """Canaries typed into columns the contracts keep in clear, through the DAG's task
    functions (lineage on), then quality validation, the PII inventory and the portal's
    findings: ``products`` quarantines them (``on_hit: quarantine``), ``order_reviews`` fails
    on one (default), ``order_payments`` fails on a file name holding one. Nothing written,
    logged, raised, emitted or printed holds a canary; the findings are reported by type."""
    import json
    import logging
    import shutil
    import traceback
    from datetime import UTC, datetime

    import yaml

    from pipelines import tasks
    from pipelines.lake.findings import undeclared_inventory
    from pipelines.pii_inventory import render_markdown
    from pipelines.portal.data import findings
    from pipelines.quality import tasks as quality_tasks
    from tests.unit.lineage.emit_helpers import pipeline_env

    folder = tmp_path / "contracts"
    shutil.copytree(contracts["orders"].path.parent, folder)  # type: ignore[union-attr]
    products = yaml.safe_load((folder / "products.yml").read_text())
    products["undeclared_pii"] = {"on_hit": "quarantine"}
    (folder / "products.yml").write_text(yaml.safe_dump(products))

    data_dir = tmp_path / "data"
    landing = data_dir / "landing" / DAY
    landing.mkdir(parents=True)
    rows = clean_day()
    rows["products"][1]["product_category_name"] = "canary.iota@CANARYMAIL.example"
    rows["order_reviews"][0]["review_id"] = "canary.kappa@CANARYMAIL.example"
    for table, table_rows in rows.items():
        stem = contracts[table].source.file_stem
        name = f"{stem}.csv"
        if table == "order_payments":
            name = f"{stem}-canary.lambda@CANARYMAIL.example.csv"
        (landing / name).write_text(to_csv(contracts, table, table_rows))
    key_file = tmp_path / "keys.json"
    create_keyring(key_file)
    task_log = io.StringIO()
    handler = logging.StreamHandler(task_log)
    logging.getLogger().addHandler(handler)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC)
    outcomes: dict[str, Any] = {}
    try:
        with (
            pytest.MonkeyPatch.context() as mp,
            pipeline_env(data_dir, key_file) as settings,
        ):
            mp.setenv("PIPELINES_CONTRACTS_DIR", str(folder))
            for table in contracts.load_order():
                try:
                    outcomes[table] = tasks.ingest(table, start, end, "canary-undeclared")
                except Exception as exc:  # what Airflow would write to the task log
                    task_log.write("".join(traceback.format_exception(exc)))
                    outcomes[table] = exc
            outcomes["quality"] = quality_tasks.validate("products", start, end, "canary-q")
            listed = undeclared_inventory(settings.model_copy(update={"contracts_dir": folder}))
            shown = findings(settings)
    finally:
        logging.getLogger().removeHandler(handler)
    assert outcomes["products"]["quarantine_by_check"] == {"undeclared_pii": 1}
    assert "review_id: EMAIL" in str(outcomes["order_reviews"])
    assert "[EMAIL]" in str(outcomes["order_payments"])
    assert ("products", "product_category_name", "EMAIL") in {
        (r["table"], r["column"], r["method"]) for r in listed
    }
    assert [f["column"] for f in shown if f["kind"] == "undeclared PII"] == [
        "product_category_name"
    ]
    canaries = [*CANARIES, "canary.iota", "canary.kappa", "canary.lambda"]
    written = [p for p in data_dir.rglob("*") if p.is_file() and landing not in p.parents]
    assert any(p.name == "events.jsonl" for p in written)
    printed = render_markdown(listed) + json.dumps([listed, shown])
    leaks = [f"{p}: {c}" for p in written for c in canaries if c.encode() in p.read_bytes()]
    leaks += [f"log: {c}" for c in canaries if c in task_log.getvalue()]
    leaks += [f"result: {c}" for c in canaries if c in repr(outcomes) + printed]
    assert leaks == []
