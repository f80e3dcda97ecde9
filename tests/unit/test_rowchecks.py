"""The row-check registry: a check registered in :mod:`pipelines.rowchecks` is applied by
ingestion, evidenced by the quality gate and shown in the ingestion lineage, with nothing
else written."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import rowchecks
from pipelines.contracts import Contract
from pipelines.ingest.lineage import row_check_names
from pipelines.ingest.transform import staged_query
from pipelines.lake.interval import Interval
from pipelines.quality.suites import quarantine_evidence
from pipelines.rowchecks import ColumnCheck, ColumnSql, Failure

INTERVAL = Interval.parse("2018-01-01", "2018-01-02")
CONTRACT = Contract.model_validate(
    {
        "table": "codes",
        "version": 1,
        "description": "Codes.",
        "owner": "data@example.com",
        "source": {"file_stem": "codes"},
        "primary_key": ["code"],
        "columns": [
            {"name": "code", "type": "string", "required": True, "description": "A code."},
            {"name": "amount", "type": "integer", "description": "An amount."},
        ],
    }
)


def _too_long(s: ColumnSql) -> list[Failure]:
    return [Failure(f"length({s.raw}) > 5", f"{s.shown} || ' is too long'")]


TOO_LONG = ColumnCheck(
    "too_long",
    "required",
    lambda c: c.type == "string" and c.required,
    _too_long,
    lambda c: f"{c.name} is short",
)


class _NoProtection:
    """No column of :data:`CONTRACT` is protected, so no method is called."""

    def token(self, column_sql: str, param_prefix: str) -> tuple[str, dict[str, bytes]]:
        raise AssertionError

    def encrypt(self, column_sql: str, context: str) -> str:
        raise AssertionError

    def generalize(self, method: str, column_sql: str, reference_date_sql: str) -> str:
        raise AssertionError

    def scrub(self, column_sql: str, region: str) -> str:
        raise AssertionError


def _reasons() -> list[object]:
    raw = (
        "SELECT * FROM (VALUES ('abc', '1', 'f.csv', 1), ('abcdefgh', 'x', 'f.csv', 2)) "
        'AS t("code", "amount", _source_file, _source_row)'
    )
    query = staged_query(CONTRACT, INTERVAL, raw, _NoProtection())
    con = duckdb.connect()
    rows = con.execute(f"SELECT _reasons FROM ({query.sql}) ORDER BY _source_row").fetchall()
    return [row[0] for row in rows]


def test_the_registered_checks_are_those_ingestion_evidence_and_lineage_use():
    assert _reasons()[1] == [
        {
            "check": "type_error",
            "column": "amount",
            "reason": "amount: the value is not a valid integer (see the encrypted record)",
        },
    ]
    evidence = {spec.name for spec in quarantine_evidence(CONTRACT)}
    assert "contract.quarantine.type_error.amount" in evidence
    assert "contract.quarantine.too_long.code" not in evidence
    assert row_check_names(CONTRACT)["amount"] == ["type_error"]


def test_a_new_row_check_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rowchecks, "COLUMN_CHECKS", [*rowchecks.COLUMN_CHECKS, TOO_LONG])

    first, second = _reasons()
    assert first is None
    assert {"check": "too_long", "column": "code", "reason": "code: the value is too long"} in (
        second
    )
    evidence = {spec.name: spec for spec in quarantine_evidence(CONTRACT)}
    assert evidence["contract.quarantine.too_long.code"].description == "code is short"
    assert row_check_names(CONTRACT)["code"] == ["required_missing", "too_long", "duplicate_key"]
