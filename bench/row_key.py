"""What a surrogate row key costs: one table of invoice lines, ingested under a natural key
and under ``row_key`` (``keep`` and ``drop``).

    python -m bench.row_key --lines 1000000 --workdir .data/bench-row-key

The contract is the example in ``docs/examples/contracts/invoice_lines.yml`` without its PII
column (so every variant loads in one statement) plus a unique ``line_no``: the natural-key
variant declares ``primary_key: [line_no]``, the others ``primary_key: []`` and a row key.
One line in a thousand is an exact copy of the previous one (a ``duplicate_key`` under the
natural key, an exact duplicate under the row key). Prints the stage timings of each run (:attr:`pipelines.ingest.run.IngestResult.stages`); ``key_checks``
includes the row key.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from pipelines.contract_docs import EXAMPLE_FILE
from pipelines.contracts import load_contracts
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.settings import Settings

DAY = "2010-12-01"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,Price,Country,line_no\n"
VARIANTS: dict[str, dict[str, Any]] = {
    "row_key keep": {"primary_key": [], "row_key": {"duplicates": "keep"}},
    "primary_key [line_no]": {"primary_key": ["line_no"]},
    "row_key drop": {"primary_key": [], "row_key": {"duplicates": "drop"}},
}


def _landing(folder: Path, lines: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(1)
    previous = ""
    with (folder / "invoice_lines.csv").open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(lines):
            if previous and rnd.random() < 0.001:
                line = previous  # an exact copy
            else:
                line = (
                    f"{536365 + i // 5},{rnd.randint(10000, 10400)},ITEM,{rnd.randint(-2, 12)},"
                    f"2010-12-01 08:26:00,{rnd.randint(1, 999) / 100},UK,{i}\n"
                )
            fh.write(line)
            previous = line


def _contract(folder: Path, change: dict[str, Any]) -> None:
    raw = yaml.safe_load(EXAMPLE_FILE.read_text(encoding="utf-8"))
    raw.pop("row_key", None)
    raw["columns"] = [c for c in raw["columns"] if c["name"] != "customer_id"]
    raw["columns"].append(
        {"name": "line_no", "type": "integer", "required": True, "description": "Line."}
    )
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "invoice_lines.yml").write_text(yaml.safe_dump({**raw, **change}), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    if not (args.workdir / "landing" / DAY / "invoice_lines.csv").is_file():
        _landing(args.workdir / "landing" / DAY, args.lines)
    keyring = KeyRing.generate(note="bench")
    interval = Interval.parse(DAY, "2010-12-02")
    for label, change in VARIANTS.items():
        contracts_dir = args.workdir / "contracts"
        _contract(contracts_dir, change)
        settings = Settings(data_dir=args.workdir, contracts_dir=contracts_dir)
        shutil.rmtree(settings.lake, ignore_errors=True)
        result = ingest_table(
            "invoice_lines",
            interval,
            settings,
            keyring=keyring,
            contracts=load_contracts(contracts_dir),
        )
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stages.items())
        c = result.counts
        print(
            f"{label:22} read {c.read:,} loaded {c.loaded:,} quarantined {c.quarantined:,} "
            f"dropped {c.dropped:,}: "
            f"{result.seconds:.2f}s ({stages})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
