"""Differentially private aggregates for what leaves the team, and the privacy-budget ledger.

Segment reports (people per segment, e.g. per state, for marketing or live hosts) and
representativeness by segment shared outside the governance role are released through
OpenDP: counts per segment of a feature snapshot with one row per person (each person adds
1 to one segment: L1 sensitivity 1) get discrete Laplace noise of scale ``1/epsilon``; the
measurement's own privacy map must confirm the epsilon before anything is released. The
segments are the contract's allowed values (public), never the ones seen in the data, so
their presence leaks nothing; shares are computed from the noisy counts.

**The ledger** (``<data_dir>/privacy/dp_ledger.json``) keeps per dataset a budget (total
epsilon, default 1.0, set with ``--budget`` on the first release) and every release's
epsilon (sequential composition: the spent epsilon is their sum). A release that would take
the sum over the budget is refused. Each release and refusal is an audit entry, and a
released one an OpenLineage run reading the snapshot with a ``pipelines_privacy`` facet
(dataset, epsilon).

With the lake on an object store (``lake_url``) the ledger is ``_state/dp_ledger.json``
there (:func:`ledger_state`), shared by every worker, and a release holds the ``lock_url``
advisory lock while it reads, spends and writes the ledger: a budget is never spent twice by
two workers (:mod:`pipelines.lake.state`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.settings import Settings
from pipelines.statefile import LocalStateFile, StateFile

DEFAULT_BUDGET = 1.0
ACTION = "privacy_dp_release"


class BudgetExhausted(PermissionError):
    """The release would spend more epsilon than the dataset's budget has left."""


def ledger_file(data_dir: Path) -> Path:
    return data_dir / "privacy" / "dp_ledger.json"


def _local(data_dir: Path) -> LocalStateFile:
    path = ledger_file(data_dir)
    return LocalStateFile(path, path.with_suffix(".lock"))


def ledger_state(settings: Settings) -> StateFile:
    """The ledger: ``<data_dir>/privacy/dp_ledger.json``, or ``_state/dp_ledger.json`` on the
    lake's object store."""
    from pipelines.lake.state import state_file  # the lake's storage: DuckDB, on demand

    local = _local(settings.data_dir)
    return state_file(settings, "dp_ledger.json", local.path, local.lock)


def _state(ledger: Path | StateFile) -> StateFile:
    """A data dir's ledger, or the ledger state given."""
    return _local(ledger) if isinstance(ledger, Path) else ledger


def read_ledger(ledger: Path | StateFile) -> dict[str, Any]:
    """The ledger of a data dir, or of a state (:func:`ledger_state`)."""
    text = _state(ledger).read()
    if text is None:
        return {}
    data: dict[str, Any] = json.loads(text)
    return data


def spent(entry: dict[str, Any]) -> float:
    return float(sum(r["epsilon"] for r in entry.get("releases", [])))


@dataclass(frozen=True)
class NoisyCounts:
    dataset: str
    by: str
    epsilon: float
    scale: float
    counts: dict[str, int]
    release_id: str
    spent: float
    budget: float

    @property
    def shares(self) -> dict[str, float]:
        positive = {k: max(v, 0) for k, v in self.counts.items()}
        total = sum(positive.values())
        return {k: (v / total if total else 0.0) for k, v in positive.items()}


def laplace_counts(counts: list[int], epsilon: float) -> tuple[list[int], float]:
    """Counts with discrete Laplace noise for ``epsilon`` (L1 sensitivity 1); the scale."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    scale = 1.0 / epsilon
    measurement = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )
    if measurement.map(1) > epsilon * (1 + 1e-9):
        raise ValueError(f"the measurement spends {measurement.map(1)} > epsilon {epsilon}")
    return list(measurement(counts)), scale


def release_counts(
    ledger_at: Path | StateFile,
    dataset: str,
    by: str,
    true_counts: dict[str, int],
    epsilon: float,
    *,
    budget: float | None = None,
) -> NoisyCounts:
    """Spend ``epsilon`` of ``dataset``'s budget on noisy ``true_counts``; or refuse.
    ``ledger_at``: a data dir (its local ledger) or :func:`ledger_state`."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, not {epsilon}")
    state = _state(ledger_at)
    with state.locked():
        ledger = read_ledger(state)
        entry = ledger.setdefault(dataset, {"budget": budget or DEFAULT_BUDGET, "releases": []})
        used = spent(entry)
        if used + epsilon > float(entry["budget"]) + 1e-12:
            raise BudgetExhausted(
                f"{dataset}: releasing with epsilon {epsilon:g} would spend {used + epsilon:g} "
                f"of its budget {float(entry['budget']):g} (spent {used:g}); nothing was "
                "released. Ask governance for a new budget or release from a new dataset."
            )
        segments = list(true_counts)
        noisy, scale = laplace_counts([true_counts[s] for s in segments], epsilon)
        release_id = f"dp-{uuid.uuid4().hex[:12]}"
        entry["releases"].append(
            {
                "release_id": release_id,
                "time": datetime.now(UTC).isoformat(),
                "by": by,
                "epsilon": epsilon,
                "scale": scale,
                "segments": len(segments),
            }
        )
        state.write(json.dumps(ledger, indent=2, sort_keys=True) + "\n")
    return NoisyCounts(
        dataset, by, epsilon, scale, dict(zip(segments, noisy, strict=True)), release_id,
        used + epsilon, float(entry["budget"]),
    )  # fmt: skip


def segment_counts(snapshot: Path, by: str, segments: list[str]) -> dict[str, int]:
    """People per segment of ``by`` in a snapshot (one row per person), over public
    ``segments`` (a segment nobody is in counts 0; values outside them are not counted)."""
    import duckdb

    from pipelines.sql import q, sql_str

    rows = (
        duckdb.connect()
        .execute(f"SELECT {q(by)}, count(*) FROM read_parquet({sql_str(str(snapshot))}) GROUP BY 1")
        .fetchall()
    )
    seen = {str(k): int(n) for k, n in rows if k is not None}
    return {s: seen.get(s, 0) for s in segments}
