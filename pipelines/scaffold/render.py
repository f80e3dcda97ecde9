"""The proposed contract and starter suite, as YAML with the evidence as comments."""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.contracts import Contract, Protection
from pipelines.scaffold.profile import Profile


def contract_dict(prof: Profile, table: str) -> dict[str, Any]:
    """The proposed contract, as the YAML file holds it."""
    stem = prof.path.name
    for ext in (".csv.gz", ".jsonl.gz", ".csv", ".jsonl", ".ndjson", ".json", ".parquet"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    key = prof.primary_key
    columns = []
    for c in prof.columns:
        col: dict[str, Any] = {"name": c.name}
        if c.header != c.name:
            col["source_name"] = c.header
        col["type"] = c.type
        col["description"] = f"TODO: what {c.header} means."
        col["required"] = c.missing == 0
        col["pii"] = c.pii.value
        col["protection"] = c.protection.value
        if c.generalize:
            col["generalize"] = c.generalize
        columns.append(col)
    source: dict[str, Any] = {"file_stem": stem}
    if any(c.protection is Protection.SCRUB for c in prof.columns):
        source["region"] = prof.region
    data: dict[str, Any] = {
        "table": table,
        "version": 1,
        "description": f"TODO: what one record of {prof.path.name} is.",
        "owner": "TODO: who answers for this source",
        "source": source,
        "primary_key": key,
    }
    if not key:
        data["row_key"] = {"duplicates": "keep"}
    data["columns"] = columns
    return data


def render_contract(prof: Profile, table: str) -> str:
    """The contract's YAML with comments: the evidence behind each proposal."""
    data = contract_dict(prof, table)
    Contract.model_validate(data)  # what `contracts check` validates first
    lines = [
        f"# Proposed by `pipelines contracts init` from {prof.path.name} ({prof.rows:,} rows "
        "sampled). Review every TODO, PII class and protection before ingesting.",
        "# Key candidates (measured uniqueness in the sample):",
    ]
    lines += [f"#   {', '.join(cols)}: {share:.2%}" for cols, share in prof.keys] or [
        "#   none: no column or pair is unique; a surrogate row key is proposed (row_key)"
    ]
    lines.append("# PII evidence per column:")
    lines += [
        f"#   {c.name}: {c.pii.value} -> {c.protection.value} ({c.evidence})" for c in prof.columns
    ]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body


def render_suite(prof: Profile, table: str) -> str:
    """A starter suite: the quarantine share, and observed ranges of non-PII numbers as
    warnings (values of PII columns are never written)."""
    expectations = []
    for c in prof.columns:
        if c.minimum is None or c.maximum is None:
            continue
        expectations.append(
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": c.name,
                    "min_value": _plain(c.minimum),
                    "max_value": _plain(c.maximum),
                    "mostly": 0.99,
                },
                "description": f"{c.name} within the range seen in the sample",
                "meta": {
                    "name": f"{c.name}_in_sample_range",
                    "severity": "warning",
                    "source": "business_rule",
                },
            }
        )
    data = {"name": table, "meta": {"max_quarantine_share": 0.05}, "expectations": expectations}
    head = (
        f"# Starter suite for {table}, proposed by `pipelines contracts init`. Add business "
        "rules, and representativeness against a reference in expectations/reference/ "
        "(see README, Quality gate).\n"
    )
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value
