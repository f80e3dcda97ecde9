"""What the DAG's privacy tasks call (one function per task)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.settings import Settings
from pipelines.taskscope import task_scope


def purge_retention(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Delete landing files and lake partitions past their contract's retention, as of the
    interval's end; audited, with a lineage run naming every purged partition."""
    from pipelines.contracts import load_contracts
    from pipelines.privacy.retention import purge, purge_lineage
    from pipelines.protection.audit_pg import open_audit_log
    from pipelines.protection.keys import keyring_from_settings

    with task_scope(
        "purge_retention", data_interval_start, data_interval_end, run_id, settings
    ) as (settings, lineage):
        contracts = load_contracts(settings.contracts_dir)
        log = open_audit_log(settings, keyring_from_settings(settings))
        purged = purge(settings, contracts, log, now=data_interval_end, actor="pipelines")
        seq, _ = log.head()
        lineage.complete_with(lambda: purge_lineage(settings, contracts, purged, seq))
    return {"partitions": len(purged.partitions), "landing_files": len(purged.landing)}


def release_representativeness(
    data_interval_start: datetime,
    data_interval_end: datetime,
    run_id: str | None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Release through OpenDP the segment shares of every lake partition version not released
    yet (what the portal shows outside the governance role); audited, one lineage run."""
    from pipelines.contracts import load_contracts
    from pipelines.privacy.lineage import representativeness_lineage
    from pipelines.privacy.representativeness import release_pending
    from pipelines.protection.audit import AuditLog
    from pipelines.protection.keys import keyring_from_settings

    with task_scope(
        "release_representativeness", data_interval_start, data_interval_end, run_id, settings
    ) as (settings, lineage):
        contracts = load_contracts(settings.contracts_dir)
        log = AuditLog(settings.audit, keyring_from_settings(settings))
        outcome = release_pending(
            settings, contracts, log, actor="pipelines",
            reason="representativeness shared outside the governance role (portal)",
        )  # fmt: skip
        seq, _ = log.head()
        lineage.complete_with(lambda: representativeness_lineage(settings, contracts, outcome, seq))
    return {"released": len(outcome.released), "refused": len(outcome.refused)}
