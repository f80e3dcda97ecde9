"""Which dbt nodes a feature build runs: models and data tests always, unit tests on demand."""

from __future__ import annotations

from pipelines.cli import build_parser
from pipelines.warehouse.build import SKIP_UNIT_TESTS, build_args


def test_a_build_skips_dbt_unit_tests_unless_asked():
    assert build_args() == ["build", *SKIP_UNIT_TESTS]
    assert build_args(unit_tests=True) == ["build"]
    assert build_args(select=["customer_features+"], full_refresh=True) == [
        "build",
        "--select",
        "customer_features+",
        "--full-refresh",
        *SKIP_UNIT_TESTS,
    ]


def test_the_cli_asks_for_unit_tests_with_a_flag():
    parser = build_parser()
    base = ["warehouse", "build", "--as-of", "2018-01-04"]
    assert parser.parse_args([*base, "--unit-tests"]).unit_tests is True
    assert parser.parse_args(base).unit_tests is False
