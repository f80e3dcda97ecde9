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
