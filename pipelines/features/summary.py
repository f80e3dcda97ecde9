"""What the feature stage produced, for the terminal: releases, rows per table, checks."""

from __future__ import annotations

from pipelines.console import table
from pipelines.features.paths import features_dir
from pipelines.features.snapshots import releases
from pipelines.policy import PolicyError, load_policy
from pipelines.settings import Settings


def _approved_purpose(settings: Settings, table: str) -> str:
    """A purpose the policy approves ``table`` for (to show a call that works)."""
    try:
        feature = load_policy(settings.policy_file).features.get(table)
    except PolicyError:
        return "<purpose>"
    return feature.purposes[0] if feature and feature.purposes else "<purpose>"


def print_features(settings: Settings, last: int = 7) -> int:
    """Print the latest releases; 1 when the newest one is not published, else 0."""
    found = releases(settings)
    if not found:
        print("Feature tables: nothing built yet")
        return 1
    rows = []
    names = list(dict.fromkeys(t for r in found[-last:] for t in r.features))
    for r in found[-last:]:
        counts = [f"{r.features.get(t, {}).get('rows', 0):,}" for t in names]
        checks = r.checks or {}
        failed = sum(c.get("failed", 0) for c in checks.values())
        warned = sum(c.get("warned", 0) for c in checks.values())
        rows.append(
            [
                r.as_of,
                r.status,
                *counts,
                f"{len(r.partitions)}",
                f"{len(r.held_back)}",
                f"{warned}/{failed}",
            ]
        )
    header = ["as of", "status", *names, "partitions", "held back", "warn/fail"]
    print("Feature releases (rows per feature table; partitions = gate-passed lake inputs)")
    print(table(rows, header))
    newest = found[-1]
    print(f"feature snapshots: {features_dir(settings)}")
    if names:
        purpose = _approved_purpose(settings, names[0])
        print(
            'load one:          .venv/bin/python -c "from pipelines.features import '
            f"load_features; print(load_features('{names[0]}', purpose='{purpose}').frame)\""
        )
    return 0 if newest.status == "published" else 1
