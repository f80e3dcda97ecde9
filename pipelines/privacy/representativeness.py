"""Representativeness by segment for readers outside the governance role, released through
OpenDP once per lake partition version and segment column.

The quality gate measures, per partition, the share of each segment of a column (the suites'
``expect_column_shares_to_match_reference`` checks). Governance reads those exact figures;
every other reader (the portal's engineering and ML roles) reads what this module released:

* **Segments are public**: the column's contract ``allowed_values`` and the segments of its
  declared reference population, plus ``__other__`` (any other value) and ``__missing__``
  (NULL). They are fixed before the data is read, so a segment's presence leaks nothing (the
  quality stats pool small segments, which would).
* **One release per (partition version, column)**: the counts of the partition's rows per
  segment get discrete Laplace noise (:func:`pipelines.privacy.dp.release_counts`; one row
  counts in one segment, L1 sensitivity 1: the unit of privacy is a row of the partition, so
  a person with several rows, e.g. orders, is protected for ``rows * epsilon``). The ledger's
  dataset is the partition (``lake.<table>/<partition>``), so re-ingesting it does not get a
  fresh budget. A release over budget is refused, and the refusal is recorded too.
* **Recorded and cached**: each outcome is a JSON record under
  ``<data_dir>/privacy/representativeness/<table>/<partition>/<column>.<version>.json``
  (noisy counts and shares only), one audit entry, and one OpenLineage run per call reading
  the released partitions. A record is never made twice for the same version and column: a
  page view reads records and spends nothing.
* **Shared by workers** with the lake on an object store (``lake_url``): the partitions are
  read there, and the records are ``_state/representativeness/<table>/<partition>/...`` on
  the store; one call holds the ``representativeness`` lock (with ``lock_url``, an advisory
  lock across machines) from looking for a record to writing it, so two workers never
  release (and spend on) the same version twice (:mod:`pipelines.lake.state`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.contracts import ContractSet
from pipelines.lake.partitions import Partition, partitions, verified_data_file
from pipelines.lake.state import state_file, state_lock
from pipelines.lake.storage import lake_store
from pipelines.privacy.dp import BudgetExhausted, NoisyCounts, ledger_state, release_counts
from pipelines.protection.audit import AuditLog
from pipelines.settings import Settings
from pipelines.sql import q, sql_str
from pipelines.statefile import StateFile

ACTION = "privacy_dp_representativeness"
DEFAULT_EPSILON = 0.1
SHARES_CHECK = "expect_column_shares_to_match_reference"
OTHER = "__other__"
MISSING = "__missing__"


@dataclass(frozen=True)
class Target:
    """A segment column of a table with its public segments and declared reference shares."""

    table: str
    column: str
    segments: tuple[str, ...]
    reference: dict[str, float]


def records_dir(settings: Settings) -> Path:
    return settings.data_dir / "privacy" / "representativeness"


def _record_rel(part: Partition, column: str) -> str:
    version = part.manifest.dataset_version.removeprefix("sha256:")
    return f"{part.table}/{part.name}/{column}.{version}.json"


def record_file(settings: Settings, part: Partition, column: str) -> Path:
    """The record's local file (the embedded default's)."""
    return records_dir(settings) / _record_rel(part, column)


def record_state(settings: Settings, part: Partition, column: str) -> StateFile:
    """The record: :func:`record_file`, or on the lake's object store
    ``_state/representativeness/<table>/<partition>/<column>.<version>.json``."""
    rel = _record_rel(part, column)
    return state_file(settings, f"representativeness/{rel}", records_dir(settings) / rel)


def ledger_dataset(part: Partition) -> str:
    return f"lake.{part.table}/{part.name}"


def _shares_columns(settings: Settings, table: str) -> dict[str, list[str]]:
    """Column -> declared reference names of ``table``'s shares checks (suite order)."""
    from pipelines.quality.suites import load_suite_file

    out: dict[str, list[str]] = {}
    for exp in load_suite_file(table, settings.expectations_dir).expectations:
        kwargs = exp.get("kwargs") or {}
        if exp.get("type") == SHARES_CHECK and kwargs.get("column"):
            refs = out.setdefault(str(kwargs["column"]), [])
            ref = kwargs.get("reference")
            if isinstance(ref, str) and ref != "previous_batch" and not kwargs.get("groups"):
                refs.append(ref)
    return out


def _target(
    settings: Settings, contracts: ContractSet, table: str, column: str, refs: list[str]
) -> Target:
    from pipelines.quality.reference import load_reference

    allowed = next(
        (c.allowed_values for c in contracts[table].written_columns if c.lake_name == column), None
    )
    reference = load_reference(refs[0], settings.expectations_dir / "reference") if refs else None
    named = {str(v) for v in allowed or []} | set(reference.counts if reference else {})
    segments = (*sorted(named - {MISSING, OTHER}), OTHER, MISSING)
    return Target(table, column, segments, dict(reference.shares) if reference else {})


def targets(settings: Settings, contracts: ContractSet) -> list[Target]:
    """Every (table, column) whose segment shares the quality suites measure."""
    return [
        _target(settings, contracts, table, column, refs)
        for table in contracts.load_order()
        for column, refs in _shares_columns(settings, table).items()
    ]


def true_counts(part: Partition, target: Target) -> dict[str, int]:
    """Rows of the partition per public segment (verified read; values never leave SQL)."""
    named = [s for s in target.segments if s not in (OTHER, MISSING)]
    col = f"CAST({q(target.column)} AS VARCHAR)"
    con = duckdb.connect()
    part.store.prepare(con)  # a lake on an object store: httpfs and its secret
    rows = con.execute(
        f"SELECT CASE WHEN {col} IS NULL THEN '{MISSING}' "
        f"WHEN list_contains(?, {col}) THEN {col} ELSE '{OTHER}' END, count(*) "
        f"FROM read_parquet({sql_str(str(verified_data_file(part)))}) GROUP BY 1",
        [named],
    ).fetchall()
    seen = {str(k): int(n) for k, n in rows}
    return {s: seen.get(s, 0) for s in target.segments}


def _base(part: Partition, target: Target, epsilon: float) -> dict[str, Any]:
    return {
        "table": part.table,
        "partition": part.name,
        "interval_start": part.manifest.interval_start,
        "interval_end": part.manifest.interval_end,
        "dataset_version": part.manifest.dataset_version,
        "column": target.column,
        "ledger_dataset": ledger_dataset(part),
        "epsilon": epsilon,
        "recorded_at": datetime.now(UTC).isoformat(),
    }


def _released(base: dict[str, Any], target: Target, noisy: NoisyCounts) -> dict[str, Any]:
    shares = noisy.shares
    return {
        **base,
        "status": "released",
        "release_id": noisy.release_id,
        "noise_scale": noisy.scale,
        "spent": noisy.spent,
        "budget": noisy.budget,
        "segments": [
            {
                "segment": s,
                "count": noisy.counts[s],
                "share": shares[s],
                "reference_share": target.reference.get(s),
            }
            for s in target.segments
        ],
    }


@dataclass
class Outcome:
    """What one call released (records written) and which partitions it read."""

    records: list[dict[str, Any]]
    read: list[Partition]

    @property
    def released(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "released"]

    @property
    def refused(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "refused"]


def release_one(
    settings: Settings,
    log: AuditLog,
    part: Partition,
    target: Target,
    *,
    actor: str,
    reason: str,
    epsilon: float = DEFAULT_EPSILON,
    budget: float | None = None,
) -> dict[str, Any]:
    """Release (or refuse) one partition version's segment counts; record and audit it."""
    base = _base(part, target, epsilon)
    details = {k: base[k] for k in ("ledger_dataset", "column", "dataset_version", "epsilon")}
    try:
        noisy = release_counts(
            ledger_state(settings), base["ledger_dataset"], target.column, true_counts(part, target),
            epsilon, budget=budget,
        )  # fmt: skip
    except BudgetExhausted:
        record = {**base, "status": "refused"}
        entry = log.append(actor=actor, action=ACTION, reason=reason,
                           details={**details, "outcome": "refused"})  # fmt: skip
    else:
        record = _released(base, target, noisy)
        entry = log.append(
            actor=actor, action=ACTION, reason=reason,
            details={**details, "outcome": "released", "release_id": noisy.release_id,
                     "spent": noisy.spent, "budget": noisy.budget},
        )  # fmt: skip
    record["audit_seq"] = entry["seq"]
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    record_state(settings, part, target.column).write(text)
    return record


def release_pending(
    settings: Settings,
    contracts: ContractSet,
    log: AuditLog,
    *,
    actor: str,
    reason: str,
    epsilon: float = DEFAULT_EPSILON,
    budget: float | None = None,
) -> Outcome:
    """Release every (current partition version, segment column) not recorded yet, under
    the ``representativeness`` lock (no other worker releases the same one meanwhile; with
    nothing to release, no lock is taken)."""
    out = Outcome([], [])
    if not _pending(settings, contracts):
        return out
    lock = records_dir(settings).parent / "representativeness.lock"
    with state_lock(settings, "representativeness.lock", lock):
        for part, target in _pending(settings, contracts):  # again, under the lock
            record = release_one(
                settings, log, part, target, actor=actor, reason=reason, epsilon=epsilon,
                budget=budget,
            )  # fmt: skip
            out.records.append(record)
            if record["status"] == "released" and part not in out.read:
                out.read.append(part)
    return out


def _pending(settings: Settings, contracts: ContractSet) -> list[tuple[Partition, Target]]:
    """Every (current partition version, segment column) without a record: a version is
    released (or refused) once, never again."""
    store = lake_store(settings)
    return [
        (part, target)
        for target in targets(settings, contracts)
        for part in partitions(store, target.table)
        if record_state(settings, part, target.column).read() is None
    ]
