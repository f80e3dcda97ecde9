"""What encrypting quarantined values costs: ingesting a file whose records all fail a check.

    python -m bench.quarantine --rows 200000 [--runs 3]

Writes one ``order_payments`` CSV of ``--rows`` records whose ``payment_type`` is not an
allowed value (so every record is quarantined, and its five non-PII values are encrypted:
:mod:`pipelines.lake.quarantine`), plus the factories' clean day for the tables it
references, into a temporary data dir; then ingests ``order_payments`` ``--runs`` times and
prints the wall seconds and stage timings of each run. Compare against a checkout before the
quarantine encryption (``PYTHONPATH=<that checkout>``) for the difference.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pipelines.contracts import load_contracts
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.settings import PROJECT_DIR, Settings
from tests.factories import DAY, clean_day, to_csv

PARENTS = ("customers", "customer_profiles", "orders")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    contracts = load_contracts(PROJECT_DIR / "contracts")
    with tempfile.TemporaryDirectory(prefix="bench-quarantine-") as tmp:
        settings = Settings(data_dir=Path(tmp), duckdb_memory_limit="1GB", duckdb_threads=2)
        landing = settings.landing / DAY
        landing.mkdir(parents=True)
        rows = clean_day()
        for table in PARENTS:
            stem = contracts[table].source.file_stem
            (landing / f"{stem}.csv").write_text(to_csv(contracts, table, rows[table]))
        payments = contracts["order_payments"]
        lines = [",".join(payments.column_names)]
        lines += [f"o{i:031d},1,wire,1,10.00" for i in range(args.rows)]
        (landing / f"{payments.source.file_stem}.csv").write_text("\n".join(lines) + "\n")
        keyring = KeyRing.generate(note="bench")
        interval = Interval.parse(DAY, "2018-01-02")
        for table in PARENTS:
            ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
        for run in range(1, args.runs + 1):
            result = ingest_table(
                "order_payments", interval, settings, keyring=keyring, contracts=contracts
            )
            print(
                f"run {run}: {result.counts.quarantined:,} quarantined in "
                f"{result.seconds:.2f}s, stages {result.stages}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
