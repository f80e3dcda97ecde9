"""The shape of the daily DAG, derived from the source contracts (no restating by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.contracts import load_contracts


@dataclass(frozen=True)
class IngestionPlan:
    order: list[str]
    upstream: dict[str, list[str]]  # table -> tables that must be ingested before it


def ingestion_plan(contracts_dir: Path) -> IngestionPlan:
    """Tables in load order, each after the tables its foreign keys reference (contracts from
    ``contracts_dir``)."""
    contracts = load_contracts(contracts_dir)
    order = contracts.load_order()
    return IngestionPlan(order, {t: contracts.upstream(t) for t in order})
