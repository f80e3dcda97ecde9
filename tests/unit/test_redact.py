"""The one redaction boundary: exceptions, chains, tracebacks and log records leave it safe."""

from __future__ import annotations

import io
import json
import logging
import traceback
from pathlib import Path

import duckdb
import pytest

from pipelines import redact
from pipelines.ingest.run import IngestionError

EMAIL = "canary.alpha@CANARYMAIL.example"
NAME = "CANARYNAME Alpha"


def duckdb_parser_error(tmp_path: Path) -> duckdb.Error:
    """A real DuckDB error quoting a JSON line that holds an e-mail and a name."""
    path = tmp_path / "profiles.jsonl"
    path.write_text(f'{{"email": "{EMAIL}", "full_name": "{NAME}\n', encoding="utf-8")
    try:
        duckdb.sql(
            f"SELECT CAST(c0 AS JSON) FROM read_csv('{path}', header=false, delim=chr(1), "
            "quote='', columns={'c0': 'VARCHAR'})"
        ).fetchall()
    except duckdb.Error as exc:
        assert "CANARY" in str(exc)  # the premise: DuckDB quotes the record
        return exc
    raise AssertionError("DuckDB parsed a malformed line")


def test_text_redactor_replaces_emails_and_phones() -> None:
    text = redact.redact_text(f"write to {EMAIL} or +55 11 90000-1111")
    assert "CANARYMAIL" not in text and "90000-1111" not in text
    assert "secret" not in redact.redact_text("see http://user:secret@host/api")


def test_a_foreign_message_is_reduced_to_class_and_locator(tmp_path: Path) -> None:
    exc = duckdb_parser_error(tmp_path)
    text = redact.describe(exc)
    assert "CANARY" not in text and "canary" not in text
    assert text.startswith("ConversionException: ")
    assert "byte" in text and redact.WITHHELD in text
    assert "Malformed JSON: unexpected" in text


def test_duckdb_file_scans_give_file_record_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(f'{{"a": 1}}\n{{"email": "{EMAIL}\n', encoding="utf-8")
    with pytest.raises(duckdb.Error) as raised:
        duckdb.sql(f"SELECT * FROM read_json('{path}', format='newline_delimited')").fetchall()
    where = redact.locate(raised.value)
    assert where.file is not None and where.file.endswith("x.jsonl")
    assert where.record is not None and where.byte_offset is not None


def test_json_and_unicode_errors_keep_their_position_not_their_input() -> None:
    with pytest.raises(json.JSONDecodeError) as decoding:
        json.loads(f'{{"email": "{EMAIL}" ')
    text = redact.describe(decoding.value)
    assert "CANARY" not in text and "record 1" in text and "byte" in text
    with pytest.raises(UnicodeDecodeError) as unicode:
        f"{EMAIL}\xff".encode("latin-1").decode("utf-8")
    text = redact.describe(unicode.value)
    assert "CANARY" not in text and f"byte {len(EMAIL)}" in text


def test_our_messages_pass_the_text_redactor_and_keep_their_words() -> None:
    exc = IngestionError(f"orders: bad thing near {EMAIL}; re-run the interval")
    assert (
        redact.describe(exc)
        == "IngestionError: orders: bad thing near [EMAIL]; re-run the interval"
    )


def test_a_located_error_says_where() -> None:
    exc = redact.LocatedError(
        "line is not a JSON object",
        file="2018-01-01/p.jsonl",
        record=3,
        byte_offset=60,
        kind="malformed_json",
    )
    assert str(exc) == (
        "line is not a JSON object (file 2018-01-01/p.jsonl, record 3, byte 60, malformed_json)"
    )
    assert redact.redact_exception(exc) is exc and str(exc).startswith("line is not")


def test_redact_exception_works_in_place_through_the_whole_chain(tmp_path: Path) -> None:
    parser = duckdb_parser_error(tmp_path)
    try:
        try:
            raise parser
        except duckdb.Error as inner:
            raise ValueError(f"while reading {EMAIL}") from inner
    except ValueError as exc:
        exc.add_note(f"row held {EMAIL}")
        outer, raised = exc, redact.redact_exception(exc)
    assert raised is outer and isinstance(raised, ValueError)  # class kept: retries unchanged
    assert raised.__cause__ is parser and raised.__traceback__ is not None
    printed = "".join(traceback.format_exception(raised))
    assert "CANARY" not in printed and "canary" not in printed
    assert "ConversionException" in printed and "ValueError" in printed


class _AttributeError(Exception):
    """A library's error whose text comes from an attribute: replaced by a stand-in."""

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def __str__(self) -> str:
        return f"bad value {self.value}"


_AttributeError.__module__ = "somelib"


def test_an_exception_both_cause_and_context_is_replaced_on_both_links() -> None:
    try:
        try:
            raise _AttributeError(EMAIL)
        except _AttributeError as inner:
            raise ValueError("reading failed") from inner  # inner: its cause and its context
    except ValueError as exc:
        raised = redact.redact_exception(exc)
    assert raised.__cause__ is raised.__context__
    assert isinstance(raised.__cause__, redact.RedactedError)
    assert "CANARY" not in str(raised.__context__) and "canary" not in str(raised.__context__)


def test_a_key_error_is_replaced_in_place() -> None:
    exc = redact.redact_exception(KeyError(EMAIL))
    assert "CANARY" not in str(exc)


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("pipelines.test_redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        redact.install_log_filter(logger)
        parser = duckdb_parser_error(tmp_path)
        logger.warning("could not read %s: %s", EMAIL, parser)
        try:
            raise parser
        except duckdb.Error:
            logger.exception("reading failed")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(redact.FILTER)
        logger.propagate = True
    output = stream.getvalue()
    assert "CANARY" not in output and "canary" not in output
    assert "[EMAIL]" in output and "reading failed" in output
    assert "Traceback" in output and "ConversionException" in output


def test_the_text_redactor_is_chosen_in_one_place() -> None:
    source = Path(redact.__file__).read_text(encoding="utf-8")
    lines = [line.strip() for line in source.splitlines()]
    imports = [line for line in lines if line.endswith(" as redactor") and line.startswith("from")]
    assert imports == ["from pipelines.protection.detect import redact_text as redactor"]
    assert "pipelines.protection" not in "".join(
        line
        for line in lines
        if line.startswith(("import ", "from ")) and " as redactor" not in line
    )  # nothing else imports the (slow) protection package


def test_the_text_redactor_runs_in_sql() -> None:
    con = duckdb.connect()
    name = redact.register_duckdb(con)
    row = con.execute(f"SELECT {name}(?), {name}(NULL)", [f"line quotes {EMAIL}"]).fetchone()
    assert row == ("line quotes [EMAIL]", None)


def test_a_builtin_raised_by_our_code_keeps_its_words_one_raised_by_a_library_does_not(
    contracts,
) -> None:
    with pytest.raises(KeyError) as ours:
        contracts["no_such_table"]
    assert "no contract for table" in redact.describe(ours.value)
    from pipelines.lake.interval import Interval

    with pytest.raises(ValueError) as library:  # datetime's parser, called by our code
        Interval.parse(EMAIL, "2018-01-02")
    assert EMAIL in str(library.value)  # the premise: it quotes the value
    assert redact.describe(library.value) == f"ValueError: ({redact.WITHHELD})"


def test_members_of_an_exception_group_are_redacted(tmp_path: Path) -> None:
    parser = duckdb_parser_error(tmp_path)
    group = ExceptionGroup("reading failed", [parser, KeyError(EMAIL)])
    raised = redact.redact_exception(group)
    printed = "".join(traceback.format_exception(raised))
    assert "CANARY" not in printed and "ConversionException" in printed
