"""Personal data ingestion found where no contract declared it, read back from the lake's
manifests (:class:`~pipelines.lake.manifest.UndeclaredPiiFinding`; written by
:mod:`pipelines.ingest.undeclared`), as rows of the PII inventory."""

from __future__ import annotations

from typing import Any

from pipelines.contracts import ContractSet, load_contracts
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import lake_store
from pipelines.settings import Settings


def undeclared_inventory(
    settings: Settings, contracts: ContractSet | None = None
) -> list[dict[str, Any]]:
    """One row per (table, column, detector) with undeclared personal data in a published
    partition: PII class ``undeclared``, the detector as ``method``, the partitions and
    what the contract's policy did (``finding``)."""
    contracts = contracts or load_contracts(settings.contracts_dir)
    found: dict[tuple[str, str, str], list[str]] = {}
    store = lake_store(settings)
    for table in contracts.load_order():
        for part in partitions(store, table):
            for u in part.manifest.undeclared_pii:
                found.setdefault((table, u.column, u.entity), []).append(
                    f"{part.name}: {u.policy}, {u.hits:,} of {u.sampled:,} sampled, "
                    f"{u.quarantined:,} quarantined"
                )
    rows = []
    for (table, column, entity), where in found.items():
        contract = contracts[table]
        col = contract.column(column)
        rows.append(
            {
                "table": table,
                "column": column,
                "pii_class": "undeclared",
                "protection": col.protection.value,
                "method": entity,
                "lake_column": col.lake_name,
                "masked_in_lake": False,
                "owner": contract.owner,
                "contract": contract.version_tag,
                "finding": "; ".join(where),
            }
        )
    return rows
