"""The shape of the quality tasks in the DAG, derived from contracts and suite files.

Light on purpose (DAG files import it at parse time): YAML and the contracts only, no GX,
no DuckDB, no cryptography.

``quality_<table>`` must run after ``ingest_<table>`` and after the quality tasks of the
tables it reads: those its foreign keys reference (their gate may quarantine rows) and those
its suite file reads with ``{lake:<table>}`` (e.g. ``order_payments`` reads
``order_items``). Ingestion of a table waits for the quality task of every table it
references, so it checks its foreign keys against gated partitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.contracts import load_contracts
from pipelines.settings import PROJECT_DIR

_LAKE_REF = re.compile(r"\{lake:([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class QualityPlan:
    order: list[str]
    reads: dict[str, list[str]]  # table -> tables whose quality task must finish first


def quality_plan(contracts_dir: Path, expectations_dir: Path | None = None) -> QualityPlan:
    contracts = load_contracts(contracts_dir)
    suites = expectations_dir or PROJECT_DIR / "expectations"
    order = contracts.load_order()
    reads = {}
    for table in order:
        found = set(contracts.upstream(table))
        path = suites / f"{table}.yml"
        if path.is_file():
            found |= set(_LAKE_REF.findall(path.read_text(encoding="utf-8")))
        found.discard(table)
        unknown = found - set(order)
        if unknown:
            raise ValueError(f"{path}: reads unknown table(s) {sorted(unknown)}")
        reads[table] = sorted(found)
    return QualityPlan(order, reads)
