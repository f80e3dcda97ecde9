"""The k-anonymity gate's decisions at feature publication, in the audit log.

One entry per feature table the gate measured (:func:`~pipelines.privacy.anonymity.
snapshot_results`), each time publication is decided, action ``anonymity_gate``: the release,
its as-of date and run, the table, the k measured and the k required, the lowest l where
l-diversity is declared, rows, classes, rows below k and rows suppressed, whether the table
enforces the gate and the outcome (``passed``, ``blocked``, or ``recorded``: below k on a table
that does not enforce). Figures and table names only: no quasi-identifier value, not even the
smallest classes the report names.

The key ring is resolved at the edge (:func:`pipelines.features.tasks.publish`, which the DAG's
``publish_features`` and ``pipelines features build`` call). Without a usable audit key (no
key ring, or a ring without an audit key) the decisions are logged all the same,
unauthenticated (``key_id`` null, as a request refused for want of keys is), and publication is
refused: nothing is served whose gate decision is not in the chained log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipelines.privacy.anonymity import Result
from pipelines.protection.audit import AuditLog
from pipelines.protection.errors import KeyRingError
from pipelines.protection.keys import Purpose, keyring_from_settings
from pipelines.settings import Settings

ACTION = "anonymity_gate"
ACTOR = "pipelines"
REASON = "k-anonymity gate at feature publication"


@dataclass(frozen=True)
class GateAudit:
    """Where the gate's decisions go; ``missing_key`` names why the log has no audit key
    (its entries are unauthenticated and publication is refused)."""

    log: AuditLog
    missing_key: str | None = None

    @property
    def problems(self) -> list[str]:
        if self.missing_key is None:
            return []
        return [
            f"audit log: no audit key ({self.missing_key}); the k-anonymity gate's decisions "
            "were logged unauthenticated and publication is refused: configure the key ring "
            "(PIPELINES_KEY_FILE or PIPELINES_KEYS) with an audit key"
        ]


def publication_audit(settings: Settings) -> GateAudit:
    """The audit log under the settings' key ring; without a usable audit key, an unkeyed
    log and the error's class (its message may name a file, never a value)."""
    try:
        keyring = keyring_from_settings(settings)
        keyring.keyset(Purpose.AUDIT)
    except KeyRingError as exc:
        return GateAudit(AuditLog(settings.audit), type(exc).__name__)
    return GateAudit(AuditLog(settings.audit, keyring))


def outcome(result: Result) -> str:
    """``passed``; ``blocked`` (below k or l on an enforcing table); ``recorded`` (not enforced)."""
    if result.passed:
        return "passed"
    return "blocked" if result.policy.enforce else "recorded"


def decision_details(result: Result, *, release_id: str, as_of: str, run_id: str) -> dict[str, Any]:
    """The entry's details: figures and names only."""
    policy = result.policy
    return {
        "release_id": release_id,
        "as_of": as_of,
        "run_id": run_id,
        "table": policy.table,
        "k": result.k,
        "required_k": policy.k,
        "l": min(result.l_values.values()) if result.l_values else None,
        "required_l": policy.l if policy.sensitive else None,
        "quasi_identifiers": len(policy.quasi_identifiers),
        "rows": result.rows,
        "classes": result.classes,
        "below_k": result.below_k,
        "suppressed": result.suppressed,
        "enforced": policy.enforce,
        "outcome": outcome(result),
    }


def record_decisions(
    audit: GateAudit, results: Iterable[Result], *, release_id: str, as_of: str, run_id: str
) -> dict[str, int]:
    """Append one entry per table; returns each table's audit ``seq``."""
    seqs = {}
    for result in results:
        entry = audit.log.append(
            actor=ACTOR,
            action=ACTION,
            reason=REASON,
            details=decision_details(result, release_id=release_id, as_of=as_of, run_id=run_id),
            unauthenticated=audit.missing_key is not None,
        )
        seqs[result.policy.table] = int(entry["seq"])
    return seqs
