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
    from pipelines.protection.audit import AuditLog
    from pipelines.protection.keys import keyring_from_settings

    with task_scope(
        "purge_retention", data_interval_start, data_interval_end, run_id, settings
    ) as (settings, lineage):
        contracts = load_contracts(settings.contracts_dir)
        log = AuditLog(settings.audit, keyring_from_settings(settings))
        purged = purge(settings, contracts, log, now=data_interval_end, actor="pipelines")
        seq, _ = log.head()
        lineage.complete_with(lambda: purge_lineage(settings, contracts, purged, seq))
    return {"partitions": len(purged.partitions), "landing_files": len(purged.landing)}
