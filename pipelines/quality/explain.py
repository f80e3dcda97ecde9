"""Check results people can act on: what was observed, in words, and what governs the check.

A failed representativeness check names its segments and numbers (``delivered 63.6% vs
reference 97.0%, ratio 0.66``) and the statistic that reached its threshold; every check
says which file and setting decide it (``governed_by``, set when the suite is built). A
foreign-key failure whose missing parents the gate itself quarantined is a *consequence* of
the parent table's failure, shown under it rather than as one more critical problem.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

FOREIGN_KEY = "contract.foreign_key."


def shares_text(observed: Mapping[str, Any]) -> str | None:
    """``delivered 63.6% vs reference 97.0%, ratio 0.66; tvd 0.33 reached fail 0.2``."""
    off = observed.get("segments_off")
    if not off:
        return None
    parts = []
    for s in off:
        text = f"{s['segment']} {s['share']:.1%} vs reference {s['reference_share']:.1%}"
        if s.get("ratio") is not None:
            text += f", ratio {s['ratio']:.2f}"
        parts.append(text)
    reached = [
        f"{stat} {v['value']:.3g} reached {level} {limit}"
        for stat, v in (observed.get("reached") or {}).items()
        for level, limit in v.items()
        if level != "value"
    ]
    return "; ".join(parts + reached)


def observed_text(observed: Any, unexpected: int | None, elements: int | None) -> str:
    """One line for an observed value, without data values (the stored value has none)."""
    if isinstance(observed, str):
        with contextlib.suppress(ValueError):
            observed = json.loads(observed)
    if isinstance(observed, dict) and (text := shares_text(observed)):
        return text
    if unexpected is not None and elements is not None:
        return f"{unexpected} of {elements} rows"
    text = observed if isinstance(observed, str) else json.dumps(observed, sort_keys=True)
    return text if len(text) <= 90 else text[:87] + "..."


def consequences(
    rows: Iterable[dict[str, Any]], parents: Mapping[tuple[str, str], str]
) -> dict[tuple[str, str, str], str]:
    """Failed foreign-key checks whose parent table's rows the gate quarantined in the same
    interval: ``{(table, partition, check): "consequence of ..."}``.

    ``parents`` maps ``(table, foreign-key column)`` to the referenced table."""
    rows = list(rows)
    quarantining: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if int(r.get("quarantined") or 0) > 0:
            quarantining.setdefault((r["table"], r["interval_start"]), []).append(
                f"{r['table']}.{r['expectation']} quarantined {r['quarantined']}"
            )
    out = {}
    for r in rows:
        if r["outcome"] != "failed" or not r["expectation"].startswith(FOREIGN_KEY):
            continue
        parent = parents.get((r["table"], r["expectation"][len(FOREIGN_KEY) :]))
        roots = quarantining.get((parent or "", r["interval_start"]))
        if roots:
            out[(r["table"], r["partition"], r["expectation"])] = (
                f"consequence of the gate quarantining {parent} rows ({', '.join(roots)}): "
                "their children here have no parent left"
            )
    return out


def foreign_key_parents(contracts: Any) -> dict[tuple[str, str], str]:
    """``(table, column) -> referenced table`` for every foreign key of a contract set."""
    return {
        (table, fk.column): fk.ref_table
        for table in contracts
        for fk in contracts[table].foreign_keys
    }
