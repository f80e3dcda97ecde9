"""Quality summaries for the terminal and for the gate, read from the stored results."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.console import table as text_table
from pipelines.lake.interval import Interval
from pipelines.quality import store
from pipelines.quality.explain import consequences, foreign_key_parents, observed_text
from pipelines.settings import Settings


@dataclass(frozen=True)
class TableSummary:
    table: str
    partitions: int
    checks: int
    passed: int
    warned: int
    failed: int
    quarantined: int
    failed_checks: list[str]
    warned_checks: list[str]
    consequences: list[str] = field(
        default_factory=list
    )  # failed only through the gate's quarantine


def latest_per_partition(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The check rows of each (table, partition)'s latest validation."""
    latest: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r["table"], r["partition"])
        latest[key] = max(r["validated_at"], latest.get(key, ""))
    return [r for r in rows if r["validated_at"] == latest[(r["table"], r["partition"])]]


def latest_rows(
    settings: Settings, run_id: str | None = None, interval: Interval | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Check rows of one run (default: the latest), or the latest validation of every
    partition overlapping ``interval``. Returns the rows and the run ids they come from."""
    rows = store.read_checks(settings)
    if interval is not None:
        start, end = interval.start.isoformat(), interval.end.isoformat()
        rows = [r for r in rows if r["interval_start"] < end and r["interval_end"] > start]
        rows = latest_per_partition(rows)
        return rows, sorted({r["run_id"] for r in rows})
    if run_id is None:
        ids = store.run_ids(settings)
        if not ids:
            return [], []
        run_id = ids[-1]
    return [r for r in rows if r["run_id"] == run_id], [run_id]


def describe(row: dict[str, Any], because: str | None = None, *, where: bool = False) -> str:
    """``table.check: what was observed (rows quarantined) [governed by ...]``; with
    ``where``, the partition after the check's name (a warning list over several days)."""
    observed = observed_text(row["observed_value"], row["unexpected_count"], row["element_count"])
    at = f" ({row['partition']})" if where and row.get("partition") else ""
    text = f"{row['table']}.{row['expectation']}{at}: {observed}"
    if row["quarantined"]:
        text += f" ({row['quarantined']} rows quarantined)"
    if row["error"]:
        text += f" (error: {row['error']})"
    if because:
        text += f"; {because}"
    if row.get("governed_by"):
        text += f" [governed by {row['governed_by']}]"
    return text


def summarize(
    rows: Iterable[dict[str, Any]],
    order: list[str] | None = None,
    parents: Mapping[tuple[str, str], str] | None = None,
) -> list[TableSummary]:
    """Per table counts and described checks. With ``parents`` (foreign keys, see
    :func:`~pipelines.quality.explain.foreign_key_parents`), failed foreign-key checks caused
    by the gate's own quarantine of their parents are listed as consequences, not failures."""
    rows = list(rows)
    caused = consequences(rows, parents or {})
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_table.setdefault(r["table"], []).append(r)
    tables = [t for t in (order or []) if t in by_table] + sorted(
        t for t in by_table if t not in (order or [])
    )
    out = []
    for t in tables:
        rs = by_table[t]
        failed = [r for r in rs if r["outcome"] == "failed"]
        why = {id(r): caused.get((t, r["partition"], r["expectation"])) for r in failed}
        out.append(
            TableSummary(
                table=t,
                partitions=len({r["partition"] for r in rs}),
                checks=len(rs),
                passed=sum(r["outcome"] == "passed" for r in rs),
                warned=sum(r["outcome"] == "warned" for r in rs),
                failed=len(failed),
                quarantined=sum(int(r["quarantined"] or 0) for r in rs),
                failed_checks=[describe(r) for r in failed if not why[id(r)]],
                warned_checks=[describe(r, where=True) for r in rs if r["outcome"] == "warned"],
                consequences=[describe(r, why[id(r)]) for r in failed if why[id(r)]],
            )
        )
    return out


def render(
    summaries: list[TableSummary], runs: list[str], docs_index: str | None, details: bool = True
) -> str:
    if not summaries:
        return "no quality results yet (run the gate: pipelines quality validate ...)"
    lines = [
        text_table(
            [
                [
                    s.table,
                    str(s.partitions),
                    str(s.checks),
                    str(s.passed),
                    str(s.warned),
                    str(s.failed),
                    str(s.quarantined),
                ]
                for s in summaries
            ],
            ["table", "partitions", "checks", "passed", "warned", "failed", "gate-quarantined"],
        )
    ]
    failed = [c for s in summaries for c in s.failed_checks]
    warned = [c for s in summaries for c in s.warned_checks]
    caused = [c for s in summaries for c in s.consequences]
    if details and failed:
        lines.append("\nfailed (critical):")
        lines += [f"  {c}" for c in failed]
    if details and caused:
        lines.append("\nconsequences of the gate's own quarantine (not separate problems):")
        lines += [f"  {c}" for c in caused]
    if details and warned:
        lines.append("\nwarnings:")
        lines += [f"  {c}" for c in warned[:40]]
        if len(warned) > 40:
            lines.append(
                f"  ... and {len(warned) - 40} more (pipelines quality summary --format json)"
            )
    total = {k: sum(getattr(s, k) for s in summaries) for k in ("passed", "warned", "failed")}
    verdict = "FAILED: critical checks failed" if total["failed"] else "passed"
    lines.append(
        f"\nquality gate: {verdict} ({total['passed']} passed, {total['warned']} warned, "
        f"{total['failed']} failed"
        + (f", {len(caused)} of them consequences" if caused else "")
        + ") for "
        + (f"run {runs[0]}" if len(runs) == 1 else f"{len(runs)} runs ({runs[0]} .. {runs[-1]})")
    )
    if docs_index:
        lines.append(
            f"Data Docs: {docs_index} (needs the internet; offline: `pipelines portal`, Quality)"
        )
    return "\n".join(lines)


def print_summary(
    settings: Settings,
    run_id: str | None = None,
    interval: Interval | None = None,
    *,
    as_json: bool = False,
    details: bool = True,
) -> int:
    """Print the quality summary of a run (default: the latest). Exit code 1 if it failed."""
    from pipelines.contracts import load_contracts

    rows, runs = latest_rows(settings, run_id, interval)
    contracts = load_contracts(settings.contracts_dir)
    summaries = summarize(rows, contracts.load_order(), foreign_key_parents(contracts))
    index = store.docs_index(settings)
    if as_json:
        print(
            json.dumps(
                {
                    "runs": runs,
                    "tables": [s.__dict__ for s in summaries],
                    "docs": str(index) if index.exists() else None,
                },
                indent=2,
            )
        )
    else:
        print(render(summaries, runs, str(index) if index.exists() else None, details))
    return 1 if any(s.failed for s in summaries) else 0
