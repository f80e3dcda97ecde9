"""``pipelines contracts init``: write the proposal, or print the drift."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.contracts import _identifier
from pipelines.protection.detect import DEFAULT_REGION
from pipelines.scaffold.drift import differences
from pipelines.scaffold.profile import ScaffoldError, profile
from pipelines.scaffold.render import render_contract, render_suite


def init(
    sample: Path,
    table: str,
    contracts_dir: Path,
    suites_dir: Path,
    region: str = DEFAULT_REGION,
) -> int:
    """Write ``<contracts_dir>/<table>.yml`` and ``<suites_dir>/<table>.yml`` from ``sample``;
    with an existing contract for ``table``, print the differences and write nothing."""
    from pipelines.console import table as text_table
    from pipelines.contracts import ContractError, load_contract, load_contracts

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ScaffoldError(
            f"table name {table!r} is not a lower-case identifier: write e.g. {_identifier(table)}"
        )
    prof = profile(sample, region)
    target = contracts_dir / f"{table}.yml"
    if target.exists():
        diff = differences(prof, load_contract(target))
        if not diff:
            print(f"{sample.name} matches the contract {target}")
            return 0
        print(f"{sample.name} differs from the contract {target} (nothing written):")
        for line in diff:
            print(f"  {line}")
        return 1
    suite_path = suites_dir / f"{table}.yml"
    if suite_path.exists():
        raise ScaffoldError(f"{suite_path} exists: move it away, or write the contract by hand")
    contract_text, suite_text = render_contract(prof, table), render_suite(prof, table)
    contracts_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(contract_text, encoding="utf-8")
    try:
        load_contracts(contracts_dir)  # what `pipelines contracts check` runs
    except ContractError:
        target.unlink()
        raise
    suites_dir.mkdir(parents=True, exist_ok=True)
    suite_path.write_text(suite_text, encoding="utf-8")
    rows = [
        [
            c.name,
            c.header if c.header != c.name else "",
            c.type,
            "yes" if c.missing == 0 else "",
            c.pii.value,
            c.protection.value,
            c.evidence,
        ]
        for c in prof.columns
    ]
    print(
        text_table(rows, ["column", "source_name", "type", "required", "pii", "protection", "why"])
    )
    print(
        "key candidates (uniqueness in the sample): "
        + (
            "; ".join(f"{', '.join(k)} {share:.2%}" for k, share in prof.keys)
            or "none (row_key proposed)"
        )
    )
    print(f"wrote {target}\nwrote {suite_path}")
    print("next: review the TODOs and every pii/protection, then `pipelines contracts check`")
    return 0
