"""Which lake partitions a feature build may use: the ones a passed quality gate vouched for.

A partition is *released* when some quality run whose gate passed validated exactly its
current content (the check rows of that run carry the partition's ``dataset_version``).
Anything else is *held back* with the reason: never validated, re-ingested since it was
validated, or its gate failed. Features are built for an ``as_of`` date from the released
partitions whose interval ended by then, so a failed day never reaches a feature table,
not even through a later day's build.

The release is written as JSON next to the exported features and is what the ML API returns
as release metadata: partitions, dataset versions (and, with a DuckLake catalog, the snapshot
that committed each), and the check results behind them.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from pipelines.contracts import load_contracts
from pipelines.lake.partitions import Partition, partitions
from pipelines.lake.storage import LakeStorage, lake_store
from pipelines.quality import store
from pipelines.settings import Settings


@dataclass(frozen=True)
class ReleasedPartition:
    table: str
    partition: str
    interval_start: str
    interval_end: str
    dataset_version: str
    ingest_run_id: str | None
    gate_run_id: str
    rows: int
    checks_passed: int
    checks_warned: int
    data_file: str
    snapshot: int | None = None
    """The DuckLake catalog snapshot that committed this version (None without a catalog):
    the release names the exact commit of each input."""


@dataclass(frozen=True)
class HeldBack:
    table: str
    partition: str
    dataset_version: str
    reason: str


@dataclass
class Release:
    release_id: str
    as_of: str
    run_id: str | None
    partitions: list[ReleasedPartition]
    held_back: list[HeldBack]
    created_at: str
    status: str = "selected"  # selected -> built -> published (or failed)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)  # table -> outcome counts
    problems: list[str] = field(default_factory=list)  # why publication was refused

    def selection(self, lake: Path | LakeStorage) -> dict[str, list[Partition]]:
        """The released partitions as lake :class:`Partition` objects, per table."""
        wanted = {(p.table, p.partition, p.dataset_version) for p in self.partitions}
        tables = sorted({p.table for p in self.partitions})
        out: dict[str, list[Partition]] = {}
        for table in tables:
            out[table] = [
                p
                for p in partitions(lake, table)
                if (table, p.name, p.manifest.dataset_version) in wanted
            ]
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Release:
        data = json.loads(text)
        data["partitions"] = [ReleasedPartition(**p) for p in data["partitions"]]
        data["held_back"] = [HeldBack(**h) for h in data["held_back"]]
        return cls(**data)


def as_of_datetime(as_of: date) -> datetime:
    """Features as of ``D`` see events strictly before ``D 00:00 UTC``."""
    return datetime.combine(as_of, time(0), tzinfo=UTC)


def _passed_gate_runs(settings: Settings) -> dict[str, bool]:
    return {g["run_id"]: bool(g["passed"]) for g in store.read_gates(settings)}


def select_release(
    settings: Settings, as_of: date, run_id: str | None, tables: list[str] | None = None
) -> Release:
    """The partitions a build as of ``as_of`` may use, and the ones held back (with why)."""
    tables = tables or load_contracts(settings.contracts_dir).load_order()
    gates = _passed_gate_runs(settings)
    # (table, partition, dataset_version) -> run id -> [outcomes]
    vouched: dict[tuple[str, str, str], dict[str, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in store.read_checks(settings):
        key = (row["table"], row["partition"], row["dataset_version"])
        vouched[key][row["run_id"]].append(row["outcome"])
    cutoff = as_of_datetime(as_of)
    released: list[ReleasedPartition] = []
    held: list[HeldBack] = []
    for table in tables:
        for part in partitions(lake_store(settings), table):
            if part.interval.end > cutoff:
                continue
            version = part.manifest.dataset_version
            runs = vouched.get((table, part.name, version), {})
            passed = sorted(r for r in runs if gates.get(r))
            if passed:
                gate_run = passed[-1]
                outcomes = runs[gate_run]
                released.append(
                    ReleasedPartition(
                        table=table,
                        partition=part.name,
                        interval_start=part.manifest.interval_start,
                        interval_end=part.manifest.interval_end,
                        dataset_version=version,
                        ingest_run_id=part.manifest.run_id,
                        gate_run_id=gate_run,
                        rows=part.manifest.counts.loaded,
                        checks_passed=outcomes.count("passed"),
                        checks_warned=outcomes.count("warned"),
                        data_file=part.data_uri,
                        snapshot=part.snapshot,
                    )
                )
                continue
            held.append(HeldBack(table, part.name, version, _why(table, part, runs, gates)))
    digest = hashlib.sha256(
        json.dumps(
            [as_of.isoformat(), [(p.table, p.partition, p.dataset_version) for p in released]]
        ).encode()
    ).hexdigest()
    return Release(
        release_id=f"r-{as_of.isoformat()}-{digest[:12]}",
        as_of=as_of.isoformat(),
        run_id=run_id,
        partitions=released,
        held_back=held,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _why(table: str, part: Partition, runs: dict[str, list[str]], gates: dict[str, bool]) -> str:
    if runs:
        failed = sorted(r for r in runs if r in gates and not gates[r])
        if failed:
            return f"quality gate failed for run {failed[-1]}"
        return "validated, but no quality gate has been decided for that run"
    return "not validated in its current version (never validated, or re-ingested since)"
