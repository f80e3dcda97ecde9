"""The PII inventory: every personal-data column, its class and protection, from the contracts.

``pipelines pii inventory`` adds the columns kept in clear in which ingestion found personal
data nobody declared (:func:`pipelines.lake.findings.undeclared_inventory`, from the lake's
manifests), in the same row format; :func:`render_markdown` lists them after the table."""

from __future__ import annotations

from typing import Any

from pipelines.contracts import load_contracts
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
