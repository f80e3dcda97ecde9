"""The scope every commerce_daily task runs in, and the no-retry failure of gate decisions."""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime

import pytest

from pipelines.taskscope import fail_without_retry, redaction_boundary, task_scope

START, END = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 2, tzinfo=UTC)


class GateFailed(RuntimeError):
    pass


def _decide(passed: bool) -> str:
    if not passed:
        raise GateFailed("critical check failed: orders.order_id unique")
    return "published"


def _broken() -> str:
    raise KeyError("not a decision")


def test_a_decision_fails_without_retry_and_other_errors_stay_what_they_are() -> None:
    from airflow.sdk.exceptions import AirflowFailException  # not at collection: ~1.5 CPU s

    assert fail_without_retry(GateFailed, _decide, True) == "published"
    with pytest.raises(AirflowFailException, match=r"orders\.order_id unique") as raised:
        fail_without_retry(GateFailed, _decide, passed=False)
    assert isinstance(raised.value.__cause__, GateFailed)
    with pytest.raises(KeyError):  # retrying may help: Airflow's retries apply
        fail_without_retry(GateFailed, _broken)


def test_a_decision_keeps_its_text_through_the_redaction_boundary() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with (
        pytest.raises(AirflowFailException, match=r"orders\.order_id unique"),
        redaction_boundary(),
    ):
        fail_without_retry(GateFailed, _decide, passed=False)
    with pytest.raises(KeyError) as raised, redaction_boundary():  # a library's: text withheld
        {}["canary.nu@CANARYMAIL.example"]
    assert "CANARYMAIL" not in str(raised.value) and "withheld" in str(raised.value)


class LibraryError(Exception):
    """A library's error whose text is built from an attribute, not from its arguments: it
    cannot be redacted in place, so the boundary raises a stand-in."""

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def __str__(self) -> str:
        return f"bad value {self.value}"


LibraryError.__module__ = "somelib"
CANARY = "canary.xi@CANARYMAIL.example"  # a name in the source: tracebacks quote the lines


@pytest.mark.parametrize("chained", [False, True])
def test_a_stand_in_does_not_chain_the_clear_original(chained: bool) -> None:
    with pytest.raises(Exception) as raised, redaction_boundary():
        if chained:
            try:
                raise LibraryError(CANARY)
            except LibraryError as first:
                raise LibraryError(CANARY.upper()) from first
        raise LibraryError(CANARY)
    text = "".join(traceback.format_exception(raised.value))
    assert type(raised.value).__name__ == "RedactedError"
    assert "LibraryError" in text and "CANARYMAIL" not in text.upper()
    todo: list[BaseException] = [raised.value]
    while todo:  # nothing linked to it, printed or not (cause and context), quotes the value
        current = todo.pop()
        assert "CANARYMAIL" not in str(current).upper()
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    assert text.count("LibraryError: (message withheld") == (2 if chained else 1)


def test_the_block_runs_as_the_tasks_lineage_run(settings) -> None:
    with task_scope("quality_orders", START, END, "scheduled__2018-01-01", settings) as (
        got,
        lineage,
    ):
        assert got is settings
        assert lineage is not None
    with pytest.raises(GateFailed), task_scope("quality_gate", START, END, "r2", settings):
        raise GateFailed("stop")
    events = [json.loads(line) for line in (settings.data_dir / "lineage" / "events.jsonl").open()]
    states = [(e["job"]["name"].rsplit(".", 1)[-1], e["eventType"]) for e in events]
    assert ("quality_orders", "START") in states and ("quality_orders", "COMPLETE") in states
    assert ("quality_gate", "START") in states and ("quality_gate", "FAIL") in states
