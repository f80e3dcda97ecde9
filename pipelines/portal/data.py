"""What the portal shows, read from what the stages recorded: quality results and gate
decisions (``pipelines.quality.store``), feature releases (``pipelines.features.snapshots``),
lake manifests, the contracts and the audit log. Nothing is copied or cached: every request
reads the stores as they are now.

Each function returns rows (plain dicts) that a page renders and exports as CSV alike.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.policy.findings import Finding


def gates(settings: Settings) -> list[dict[str, Any]]:
    """One row per gate decision, newest interval first."""
    from pipelines.quality.store import read_gates

    rows = []
    for gate in read_gates(settings):
        failed = gate.get("failed") or gate.get("failures") or []
        rows.append(
            {
                "interval_start": gate.get("interval_start"),
                "interval_end": gate.get("interval_end"),
                "run_id": gate.get("run_id"),
                "gate": "passed" if gate.get("passed") else "failed",
                "failed_checks": len(failed) if isinstance(failed, list) else failed,
                "decided_at": gate.get("decided_at") or gate.get("created_at"),
            }
        )
    return sorted(
        rows, key=lambda r: (r["interval_start"] or "", r["decided_at"] or ""), reverse=True
    )


def _finding_kind(row: dict[str, Any]) -> str:
    from pipelines.quality.store import UNDECLARED_PII

    if row["expectation_type"] == UNDECLARED_PII:
        return "undeclared PII"
    return "check " + row["outcome"]


def findings(settings: Settings) -> list[dict[str, Any]]:
    """Open findings: the failed or warned checks (contract, business rules, freshness,
    representativeness and drift alike) of each partition's latest validation, each with what
    was observed in words and what governs it, a foreign-key failure caused by the gate's own
    quarantine of the parents marked as a consequence (not a problem of its own), and the
    undeclared personal data its ingestion found (kind ``undeclared PII``)."""
    from pipelines.contracts import load_contracts
    from pipelines.quality.explain import consequences, foreign_key_parents, observed_text
    from pipelines.quality.store import read_checks
    from pipelines.quality.summary import latest_per_partition

    rows = [
        r
        for r in latest_per_partition(read_checks(settings))
        if r["outcome"] in ("failed", "warned")
    ]
    caused = consequences(rows, foreign_key_parents(load_contracts(settings.contracts_dir)))
    out = []
    for r in rows:
        because = caused.get((r["table"], r["partition"], r["expectation"]))
        observed = r["observed_value"]  # an undeclared-PII finding keeps its own record
        if _finding_kind(r) != "undeclared PII":
            observed = observed_text(observed, r["unexpected_count"], r["element_count"])
        out.append(
            {
                "kind": _finding_kind(r) + (" (consequence)" if because else ""),
                "table": r["table"],
                "partition": r["partition"],
                "what": r["expectation"],
                "column": r["column"],
                "severity": r["severity"],
                "observed": observed + (f"; {because}" if because else ""),
                "governed_by": r.get("governed_by") or "",
            }
        )
    return sorted(out, key=lambda r: (r["kind"] != "check failed", r["table"], r["partition"]))


def owned_findings(settings: Settings) -> list[Finding]:
    """:func:`findings` and the refused uses and transfers, each with its owner (policy file,
    contracts), state and history (audit log): see :mod:`pipelines.policy.findings`."""
    from pipelines.contracts import load_contracts
    from pipelines.policy import load_policy
    from pipelines.policy.findings import findings as with_owners

    contracts = load_contracts(settings.contracts_dir)
    owners = {t: contracts[t].owner for t in contracts.load_order()}
    return with_owners(settings, load_policy(settings.policy_file), findings(settings), owners)


def check_history(settings: Settings, table: str | None = None) -> list[dict[str, Any]]:
    """Every stored check row (optionally of one table), newest first."""
    from pipelines.quality.store import read_checks

    rows = [r for r in read_checks(settings) if table in (None, "", r["table"])]
    return sorted(rows, key=lambda r: r["validated_at"] or "", reverse=True)


def segment_stats(settings: Settings, table: str | None = None) -> list[dict[str, Any]]:
    """Representativeness and drift statistics, one row per check and segment."""
    from pipelines.quality.store import read_stats

    rows = [r for r in read_stats(settings) if table in (None, "", r["table"])]
    return sorted(rows, key=lambda r: (r["table"], r["expectation"], r["interval_start"] or ""))


def latest_segments(stats: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(table, check) -> segment rows of its latest validation."""
    latest: dict[tuple[str, str], str] = {}
    for r in stats:
        if r["segment"] is not None:
            key = (r["table"], r["expectation"])
            latest[key] = max(latest.get(key, ""), r["validated_at"] or "")
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in stats:
        key = (r["table"], r["expectation"])
        if r["segment"] is not None and (r["validated_at"] or "") == latest.get(key):
            out[key].append(r)
    return dict(out)


def drift_series(stats: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """(table, check) -> TVD per interval (the check-level rows), oldest first."""
    series: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in stats:
        if r["segment"] is None and r["tvd"] is not None:
            series[(r["table"], r["expectation"])][r["interval_start"] or ""] = float(r["tvd"])
    return {k: sorted(v.items()) for k, v in series.items()}


def check_summary(settings: Settings) -> list[dict[str, Any]]:
    """Per table and run: checks passed, warned and failed (newest run first)."""
    from pipelines.quality.store import read_checks

    tally: dict[tuple[str, str], dict[str, Any]] = {}
    for r in read_checks(settings):
        row = tally.setdefault(
            (r["table"], r["run_id"]),
            {
                "table": r["table"],
                "run_id": r["run_id"],
                "partition": r["partition"],
                "passed": 0,
                "warned": 0,
                "failed": 0,
                "validated_at": "",
            },
        )
        row[r["outcome"]] = row.get(r["outcome"], 0) + 1
        row["validated_at"] = max(row["validated_at"], r["validated_at"] or "")
    rows = sorted(tally.values(), key=lambda r: (r["validated_at"], r["table"]), reverse=True)
    for row in rows:
        row["outcome"] = "failed" if row["failed"] else "warned" if row["warned"] else "passed"
    return rows


def problem_series(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Failed plus warned checks per interval of one table's history, oldest first."""
    per: dict[str, float] = defaultdict(float)
    for r in rows:
        per[r["interval_start"] or ""] += r["outcome"] in ("failed", "warned")
    return sorted(per.items())


_NOT_EXPECTED = {"batch_id", "column", "unexpected_rows_query", "result_format"}


def _expected_text(kwargs: dict[str, Any]) -> str:
    """An expectation's arguments as the expected value (``max_count=0; rule=...``)."""
    parts = []
    for name, value in sorted(kwargs.items()):
        if name in _NOT_EXPECTED or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        parts.append(f"{name}={text}")
    return "; ".join(parts)


def expected_values(
    settings: Settings, *, table: str | None = None, run_id: str | None = None
) -> dict[tuple[str, str, str], dict[str, str]]:
    """(run key, table, check name) -> ``expected`` and ``description`` of that check, read
    from the stored GX results (the suite's expectation arguments)."""
    from pipelines.quality.store import result_files

    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for path in result_files(settings, [run_id] if run_id else None):
        if table and path.stem != table:
            continue
        key = path.parent.name.removeprefix("run=")
        raw = json.loads(path.read_text(encoding="utf-8"))
        for result in raw.get("results", []):
            config = result.get("expectation_config") or {}
            name = (config.get("meta") or {}).get("name") or config.get("type") or ""
            out[(key, path.stem, name)] = {
                "expected": _expected_text(config.get("kwargs") or {}),
                "description": config.get("description") or "",
            }
    return out


def with_expected(
    settings: Settings, rows: list[dict[str, Any]], *, table: str = "", run_id: str = ""
) -> list[dict[str, Any]]:
    """``rows`` (stored checks) with the expected value and description of each check."""
    found = expected_values(settings, table=table or None, run_id=run_id or None)
    for row in rows:
        extra = found.get((row["run_key"], row["table"], row["expectation"]), {})
        row["expected"] = extra.get("expected", "")
        row["description"] = extra.get("description", "")
    return rows


def outcome_cells(
    rows: list[dict[str, Any]],
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """((check, interval) -> outcome of its latest validation, intervals in order) for one
    table's history (``rows`` newest first)."""
    cells: dict[tuple[str, str], str] = {}
    for r in rows:
        cells.setdefault((r["expectation"], (r["interval_start"] or "")[:10]), r["outcome"])
    return cells, sorted({interval for _, interval in cells})
