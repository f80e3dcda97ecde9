"""The PII inventory: every personal-data column, its class and protection, from the contracts;
and every column the contracts keep in clear in which ingestion found personal data nobody
declared (from the lake partitions' manifests, :mod:`pipelines.ingest.undeclared`)."""

from __future__ import annotations

from typing import Any

from pipelines.contracts import ContractSet, load_contracts
from pipelines.settings import Settings


def inventory(settings: Settings) -> list[dict[str, Any]]:
    contracts = load_contracts(settings.contracts_dir)
    rows = []
    for table in contracts.load_order():
        contract = contracts[table]
        for col in contract.pii_columns:
            rows.append(
                {
                    "table": table,
                    "column": col.name,
                    "pii_class": col.pii.value,
                    "protection": col.protection.value,
                    "method": col.generalize.value if col.generalize else None,
                    "lake_column": col.lake_name if col.written else None,
                    "masked_in_lake": col.masked if col.written else None,
                    "owner": contract.owner,
                    "contract": contract.version_tag,
                }
            )
    return rows + undeclared(settings, contracts)


def undeclared(settings: Settings, contracts: ContractSet) -> list[dict[str, Any]]:
    """One row per (table, column, detector) with undeclared personal data in a published
    partition: PII class ``undeclared``, the detector as ``method``, the partitions and
    what the contract's policy did (``finding``)."""
    from pipelines.lake.partitions import partitions

    found: dict[tuple[str, str, str], list[str]] = {}
    for table in contracts.load_order():
        for part in partitions(settings.lake, table):
            for u in part.manifest.undeclared_pii:
                found.setdefault((table, u.column, u.entity), []).append(
                    f"{part.folder.name}: {u.policy}, {u.hits:,} of {u.sampled:,} sampled, "
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


def render_markdown(rows: list[dict[str, Any]]) -> str:
    header = "| table | column | PII class | protection | lake column | owner |"
    lines = [header, "|---|---|---|---|---|---|"]
    for r in rows:
        protection = r["protection"] + (f" ({r['method']})" if r["method"] else "")
        lake = r["lake_column"] or "(not written)"
        lines.append(
            f"| {r['table']} | {r['column']} | {r['pii_class']} | {protection} | {lake} | {r['owner']} |"
        )
    findings = [r for r in rows if r.get("finding")]
    if findings:
        lines += ["", "Undeclared personal data found at ingestion (declare it in the contract):"]
        lines += [
            f"- {r['table']}.{r['column']}: {r['method']} in {r['finding']}" for r in findings
        ]
    return "\n".join(lines)
