"""Row accounting of the lake, read from partition manifests (no data values)."""

from __future__ import annotations

import json

from pipelines.console import table
from pipelines.contracts import load_contracts
from pipelines.lake.interval import Interval
from pipelines.lake.partitions import partitions
from pipelines.lake.storage import lake_store
from pipelines.quality.reinstate import is_orphan_check
from pipelines.settings import Settings


def collect(settings: Settings, interval: Interval | None = None) -> list[dict]:
    contracts = load_contracts(settings.contracts_dir)
    store = lake_store(settings)
    rows = []
    for name in contracts.load_order():
        parts = [
            p for p in partitions(store, name) if interval is None or interval.overlaps(p.interval)
        ]
        checks: dict[str, int] = {}
        for p in parts:
            for check, n in p.manifest.quarantine_by_check.items():
                checks[check] = checks.get(check, 0) + n
        rows.append(
            {
                "table": name,
                "partitions": len(parts),
                "read": sum(p.manifest.counts.read for p in parts),
                "loaded": sum(p.manifest.counts.loaded for p in parts),
                "quarantined": sum(p.manifest.counts.quarantined for p in parts),
                "dropped": sum(p.manifest.counts.dropped for p in parts),
                "suppressed": sum(p.manifest.counts.suppressed for p in parts),
                "quarantine_by_check": checks,
                # quarantined only for a missing parent: back in the data at the next quality
                # run of their partition once the parent is re-published
                "pending_parent": sum(n for c, n in checks.items() if is_orphan_check(c)),
                "location": store.uri(name),
            }
        )
    return rows


def print_summary(settings: Settings, interval: Interval | None, as_json: bool = False) -> int:
    rows = collect(settings, interval)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        table(
            [
                [
                    r["table"],
                    str(r["partitions"]),
                    f"{r['read']:,}",
                    f"{r['loaded']:,}",
                    f"{r['quarantined']:,}",
                    ", ".join(f"{k}={v}" for k, v in sorted(r["quarantine_by_check"].items()))
                    or "-",
                ]
                for r in rows
            ],
            ["table", "partitions", "read", "loaded", "quarantined", "quarantine reasons"],
        )
    )
    balanced = all(
        r["read"] == r["loaded"] + r["quarantined"] + r["dropped"] + r["suppressed"] for r in rows
    )
    dropped = {r["table"]: r["dropped"] for r in rows if r["dropped"]}
    suppressed = {r["table"]: r["suppressed"] for r in rows if r["suppressed"]}
    rule = "read = loaded + quarantined" + (" + dropped" if dropped else "")
    rule += " + suppressed" if suppressed else ""
    print(f"\nrow accounting: {rule + ' for every table' if balanced else 'UNBALANCED'}")
    if dropped:
        listed = ", ".join(f"{t} {n:,}" for t, n in dropped.items())
        print(f"exact duplicates dropped by contract (row_key.duplicates: drop): {listed}")
    if suppressed:
        listed = ", ".join(f"{t} {n:,}" for t, n in suppressed.items())
        print(f"rows of erased subjects suppressed (pipelines privacy erase): {listed}")
    pending = {r["table"]: r["pending_parent"] for r in rows if r["pending_parent"]}
    if pending:
        print(
            "pending a parent (quarantined only because the parent row was missing; they "
            "return at the next quality run once it is re-published): "
            + ", ".join(f"{t}={n:,}" for t, n in pending.items())
        )
    store = lake_store(settings)
    files = (
        "data-<sha256>.parquet, quarantine-<sha256>.parquet"
        if store.versioned
        else "data.parquet, quarantine.parquet"
    )
    print(f"lake: {store.root}  ({files}, manifest.json per partition)")
    return 0 if balanced else 1
