"""No clear-text PII in anything ingestion writes: lake, quarantine, manifests, logs, output.

Canary values are planted in every PII column and in review texts, including rows that are
quarantined and a line too malformed to parse; then every byte the pipeline wrote (outside
the landing folder it reads from) and everything it printed is searched for them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.protection import create_keyring
from tests.factories import CANARIES, DAY, clean_day, copy_rows, to_csv, write_day


def _written_files(data_dir: Path, landing: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and landing not in p.parents]


def test_no_canary_leaves_the_pipeline(settings, contracts, write_landing, tmp_path: Path):
    rows = copy_rows(clean_day())
    rows["customer_profiles"][1]["birth_date"] = "CANARYNAME-not-a-date"  # quarantined row
    rows["customers"][2]["customer_state"] = "XX"  # quarantined row with PII columns
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
    files = _written_files(settings.data_dir, settings.landing)
    assert any(f.name == "quarantine.parquet" for f in files)
    canaries = [*CANARIES, "canary.gamma"]
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path}: {c}" for c in canaries if c.encode() in data]
    leaks += [f"output: {c}" for c in canaries if c in output]
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
    from pipelines.ingest import Interval, ingest_table
    from pipelines.ingest import stream as stream_module

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
