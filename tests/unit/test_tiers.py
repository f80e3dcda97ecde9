"""The tiers of ``make test`` collect only their own files (tests/tiers.py); a test its tier
would miss fails the collection by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import tiers


def test_each_tier_collects_its_folders_and_the_unit_modules_that_mark_integration():
    integration = tiers.paths("integration")
    assert integration[0] == tiers.INTEGRATION_DIR
    assert tiers.TESTS / "unit" / "warehouse" / "test_warehouse_build.py" in integration
    assert tiers.TESTS / "unit" / "test_tiers.py" not in integration
    assert tiers.paths("stack") == [tiers.INTEGRATION_DIR / "test_production_celery.py"]
    assert tiers.paths("unit") == [tiers.TESTS / "unit"]
    with pytest.raises(ValueError, match="unknown tier 'units'"):
        tiers.paths("units")


MARK = "pytest.mark." + "integration"  # not written out: this module has no integration test


def test_a_test_its_tier_would_miss_is_named(tmp_path: Path):
    indirect = tmp_path / "test_indirect.py"
    indirect.write_text('slow = getattr(pytest.mark, "integration")\n')
    assert f"does not write {MARK}" in str(tiers.misplaced(indirect, frozenset({"integration"})))
    written = tmp_path / "test_written.py"
    written.write_text(f"pytestmark = {MARK}\n")
    assert tiers.misplaced(written, frozenset({"integration"})) is None
    assert tiers.misplaced(written, frozenset()) is None  # a unit test beside them
    unmarked = tiers.INTEGRATION_DIR / "test_dag_start_date.py"
    assert "must be marked integration" in str(tiers.misplaced(unmarked, frozenset()))
    stack_only = tmp_path / "test_stack.py"
    stack_only.write_text(f"pytestmark = {MARK}\n")
    assert "pytest.mark." + "stack" in str(tiers.misplaced(stack_only, frozenset({"stack"})))
