"""Which test files each tier of ``make test`` collects, so that a tier's pytest processes
import only the modules that can hold its tests (collecting the whole suite costs 9-14 CPU
seconds in every xdist worker, BENCHMARKS.md).

- ``unit``: ``tests/unit`` (its ``integration`` modules are deselected by ``-m``);
- ``integration``: ``tests/integration`` and every module of ``tests/unit`` that marks a test
  ``integration`` or ``stack`` (the marks are written ``pytest.mark.<name>``: :data:`MARKED`);
- ``stack``: every module that marks a test ``stack``.

``tests/conftest.py`` checks the rule in every run (:func:`misplaced`): a test marked
``integration`` in a module this search does not find, or an unmarked test in
``tests/integration``, fails the collection by name. ``python -m tests.tiers <tier>`` prints
the paths (the Makefile's tiers use it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
INTEGRATION_DIR = TESTS / "integration"
TIER_MARKS = frozenset({"integration", "stack"})
MARKED = {
    "integration": re.compile(r"pytest\.mark\.(integration|stack)\b"),
    "stack": re.compile(r"pytest\.mark\.stack\b"),
}


def _marked(pattern: re.Pattern[str]) -> list[Path]:
    found = (p for p in sorted(TESTS.rglob("test_*.py")) if "__pycache__" not in p.parts)
    return [p for p in found if pattern.search(p.read_text(encoding="utf-8"))]


def paths(tier: str) -> list[Path]:
    """The files and folders ``tier`` collects."""
    if tier == "unit":
        return [TESTS / "unit"]
    if tier == "stack":
        return _marked(MARKED["stack"])
    if tier == "integration":
        unit = [p for p in _marked(MARKED["integration"]) if not p.is_relative_to(INTEGRATION_DIR)]
        return [INTEGRATION_DIR, *unit]
    raise ValueError(f"unknown tier {tier!r}: unit, integration or stack")


def misplaced(path: Path, marks: frozenset[str]) -> str | None:
    """Why a test in ``path`` with ``marks`` would be missed by its tier, or None."""
    path = path.resolve()
    if path.is_relative_to(INTEGRATION_DIR) and "integration" not in marks:
        return "a test in tests/integration must be marked integration (the unit tier skips it)"
    for mark in ("integration", "stack"):
        if mark in marks and not MARKED[mark].search(path.read_text(encoding="utf-8")):
            return (
                f"marked {mark} but its module does not write pytest.mark.{mark}, so the "
                f"{mark} tier would not collect it (tests/tiers.py)"
            )
    return None


if __name__ == "__main__":
    root = TESTS.parent
    print(" ".join(str(p.relative_to(root)) for p in paths(sys.argv[1])))
