"""No PII canary reaches any warehouse table or view, any dbt artifact, or the terminal.

The factory day plants canary values in every PII column and in review texts; it is
ingested, the features are built and the dbt docs generated; then every column of every
relation in the warehouse, every file dbt wrote (manifest, run results, catalog, compiled
and run SQL, logs, the docs site) and every printed line is searched.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.warehouse.build import build_features
from pipelines.warehouse.dbt import docs_dir, generate_docs
from tests.factories import CANARIES, DAY, clean_day, write_day


def _relation_leaks(con: duckdb.DuckDBPyConnection) -> tuple[list[str], int]:
    relations = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() ORDER BY ALL"
    ).fetchall()
    leaks, values = [], 0
    for schema, name in relations:
        for row in con.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall():
            for value in row:
                if value is None:
                    continue
                values += 1
                text = str(value)
                leaks += [f"{schema}.{name}: {c}" for c in CANARIES if c in text]
    return leaks, values


def _file_leaks(root: Path) -> tuple[list[str], int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path}: {c}" for c in CANARIES if c.encode() in data]
    return leaks, len(files)


def test_scanner_finds_a_planted_canary():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'x ' || ? || ' y' AS v", [CANARIES[0]])
    assert _relation_leaks(con)[0] == [f"main.t: {CANARIES[0]}"]


@pytest.mark.integration  # a dbt build and dbt docs (integration tier)
def test_no_canary_in_the_warehouse_or_dbt_artifacts(settings, keyring, contracts, write_landing):
    write_day(write_landing, contracts, clean_day())
    assert (
        b"CANARYNAME" in (settings.landing / DAY / "synthetic_customer_profiles.csv").read_bytes()
    )
    for table in contracts.load_order():
        ingest_table(
            table,
            Interval.day(date.fromisoformat(DAY)),
            settings,
            keyring=keyring,
            contracts=contracts,
        )
    printed: list[str] = []
    result = build_features(settings, date(2018, 1, 10), echo=printed.append)
    assert result.success
    site = generate_docs(settings, date(2018, 1, 10), echo=printed.append)
    target = result.target_dir
    for artifact in ("manifest.json", "run_results.json", "catalog.json", "static_index.html"):
        assert (target / artifact).is_file(), artifact
    assert any((target / "compiled").rglob("*.sql")) and any((target / "run").rglob("*.sql"))
    assert site.is_file()
    # feature_docs the next day: nothing the site shows changed, so dbt does not run again
    generated = site.stat().st_mtime_ns
    kept: list[str] = []
    assert generate_docs(settings, date(2018, 1, 10), echo=kept.append, reuse=True) == site
    assert site.stat().st_mtime_ns == generated and kept == [
        "dbt docs: the project and the warehouse's schema are unchanged; site kept"
    ]

    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        leaks, values = _relation_leaks(con)
        # the scan covered the lake views (protected PII) and the feature tables
        assert con.execute("SELECT count(*) FROM lake.customer_profiles").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM marts.customer_features").fetchone() == (2,)
    assert values > 100
    file_leaks, files = _file_leaks(settings.data_dir / "dbt")
    site_leaks, _ = _file_leaks(docs_dir(settings))
    assert files > 50
    printed_leaks = [f"output: {c}" for c in CANARIES for line in printed if c in line]
    assert leaks + file_leaks + site_leaks + printed_leaks == []
