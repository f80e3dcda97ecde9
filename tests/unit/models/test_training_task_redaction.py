"""The training DAG's task runs in the tasks' redaction boundary: what leaves it (the raised
exception, which the OpenLineage provider's FAIL event and Airflow's task log are built from,
and the log records made inside) quotes no record."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.models import repeat_purchase
from pipelines.models.tasks import train_repeat_purchase
from pipelines.redact import WITHHELD

CANARY_EMAIL = "canary.mu@CANARYMAIL.example"
CANARY_CPF = "529.982.247-25"
CANARIES = ("canary.mu", "CANARYMAIL", CANARY_CPF, "52998224725")


def _leaks(text: str) -> list[str]:
    return [c for c in CANARIES if c in text]


def _everything_said(exc: BaseException) -> str:
    """What Airflow's task log and the provider's FAIL event can show of ``exc``: its text,
    and the chain with its traceback as ``traceback`` prints it."""
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


@pytest.fixture
def task_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A handler on the root logger standing in for Airflow's task log; the task resolves its
    settings from this environment (a fresh data directory)."""
    for var in ("PIPELINES_KEYS", "PIPELINES_KEY_FILE", "PIPELINES_SETTINGS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIPELINES_DATA_DIR", str(tmp_path / "data"))
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    logging.getLogger().addHandler(handler)
    try:
        yield text
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_library_error_quoting_a_value_leaves_the_training_task_without_it(task_log):
    # The release date is parsed by a C function whose message quotes its input: the task's
    # own code raises a library error holding the canary, nothing is faked.
    release_as_of = f"{CANARY_EMAIL} {CANARY_CPF}"
    with pytest.raises(ValueError) as raised:  # the class is kept: retries are unchanged
        train_repeat_purchase("manual__canary", 30, release_as_of, "repeat_purchase")
    said = _everything_said(raised.value)
    assert _leaks(said) == []
    assert WITHHELD in str(raised.value)
    assert "repeat_purchase.py" in said  # the traceback still says where it failed


def _duckdb_error_quoting(value: str) -> Exception:
    import duckdb

    try:
        duckdb.sql(f"SELECT CAST('{value}' AS INTEGER)").fetchall()
    except duckdb.Error as exc:
        assert CANARY_EMAIL in str(exc)  # the premise
        return exc
    raise AssertionError("the cast succeeded")


def test_a_chained_error_and_a_log_record_inside_training_quote_no_canary(
    task_log, monkeypatch: pytest.MonkeyPatch
):
    def failing_train(**_: object) -> None:
        library = logging.getLogger("sklearn.canary")  # a library's logger, not ours
        try:
            raise KeyError(f"no row for {CANARY_EMAIL}")
        except KeyError as lookup:
            library.warning("skipping %s (%s)", CANARY_EMAIL, CANARY_CPF, exc_info=True)
            raise _duckdb_error_quoting(f"{CANARY_EMAIL} {CANARY_CPF}") from lookup

    monkeypatch.setattr(repeat_purchase, "train", failing_train)
    with pytest.raises(Exception) as raised:
        train_repeat_purchase("manual__canary", 30, None, "repeat_purchase")
    # What Airflow writes for the failed try: the exception, its chain, its traceback.
    logging.getLogger("airflow.task").error("Task failed", exc_info=raised.value)

    said = _everything_said(raised.value)
    assert _leaks(said) == []
    assert "ConversionException" in said and "KeyError" in said  # chain kept, text withheld
    logged = task_log.getvalue()
    assert "skipping" in logged and "Task failed" in logged  # the premise: records reached it
    assert _leaks(logged) == []
