"""The one redaction boundary: what may leave a task, a command or a lineage event.

Everything that can carry data out of a run passes through here: exception text
(:func:`describe`, :func:`redact_exception`), log records (:class:`RedactingFilter`, installed
by :func:`install_log_filter`), lineage ``errorMessage`` facets and the lineage store, and the
command line's error messages.

Two kinds of exception text:

* **Ours**: exception classes defined in ``pipelines.*``, builtin exceptions raised by a
  ``raise`` statement of this package (:func:`raised_by_us`: not by a C function called from
  it), and the decisions a caller vouches for (:func:`vouch`). Their messages are written to
  name files, records and columns, never values; they still pass the text redactor
  (:func:`redact_text`), as a second line.
* **Foreign**: DuckDB, pyarrow, ``json``, ``UnicodeDecodeError``, builtins raised by library
  code, ... Their messages can quote the record being parsed (DuckDB's ``Input: "..."``), so
  the text is never used: they are reduced to the class and a :class:`Locator` (file, record,
  byte offset, column, kind) read from the exception's attributes or from the fixed grammar
  of the engine's message.

Free text (log messages, reasons) goes through one text-redaction function, chosen by one
import line in :func:`_text_redactor`.
"""

from __future__ import annotations

import contextlib
import linecache
import logging
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WITHHELD = "message withheld: it may quote data"
_LIMIT = 2000
_SAFE_ATTR = "__pipelines_redacted__"
_USERINFO = re.compile(r"(://)[^/@\s]+@")

# Foreign libraries whose messages are about endpoints and protocols, never records: the
# lineage transport's HTTP errors. Their text passes the text redactor.
_TEXT_SAFE_MODULES = ("requests", "urllib3", "http.client", "openlineage.client.transport")


def _text_redactor() -> Callable[[str], str | None]:
    """The one text redactor (imported on first use: the protection package is slow to
    import, and this module is loaded by every command and task)."""
    # The PII detector (typed placeholders: [EMAIL], [PHONE], [CPF], ...). To go back to the
    # e-mail/phone scrubber, this single import becomes
    #   from pipelines.protection.scrub import scrub_text as redactor
    from pipelines.protection.detect import redact_text as redactor

    return redactor


def redact_text(text: str | None) -> str:
    """``text`` with personal data replaced by placeholders (the one text redactor)."""
    if not text:
        return ""
    return _USERINFO.sub(r"\1***@", _text_redactor()(text) or "")


# Locators ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locator:
    """Where something went wrong, without what the data was."""

    file: str | None = None
    record: int | None = None
    byte_offset: int | None = None
    column: str | None = None
    kind: str | None = None

    def describe(self) -> str:
        parts = []
        if self.file:
            parts.append(f"file {self.file}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.byte_offset is not None:
            parts.append(f"byte {self.byte_offset}")
        if self.column:
            parts.append(f"column {self.column}")
        if self.kind:
            parts.append(self.kind)
        return ", ".join(parts)


class LocatedError(Exception):
    """Base for our errors that point at a place in the data: a safe message and a locator.

    ``LocatedError("malformed JSON line", file="2018-01-01/x.jsonl", record=3, byte_offset=60,
    kind="malformed_json")``. The message must not hold data values; it is redacted anyway.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: int | None = None,
        byte_offset: int | None = None,
        column: str | None = None,
        kind: str | None = None,
    ):
        super().__init__(message)
        self.locator = Locator(file, record, byte_offset, column, kind)

    def __str__(self) -> str:
        message = str(self.args[0]) if self.args else ""
        where = self.locator.describe()
        return f"{message} ({where})" if where else message


class RedactedError(Exception):
    """Stands in for an exception whose text could not be redacted in place."""


# DuckDB's (and yyjson's) message grammar: only these parts are read from a foreign message.
_DUCK_CATEGORY = re.compile(r"^([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*){0,4} Error): ")
_IN_FILE = re.compile(r"\bin file \"([^\"\n]{1,500})\"")
_AT_BYTE = re.compile(r"\bat byte (\d+)\b")
_IN_RECORD = re.compile(r"\b(?:in line|in record/value|on line|at line|line) (\d+)\b")
_JSON_KIND = re.compile(r"\b(Malformed JSON)\b[^:\n]{0,600}?: ([a-z][a-z0-9 -]{0,60})\.")


def _message_locator(text: str) -> Locator:
    """File, record, byte and kind from the fixed parts of an engine's message."""
    file = _IN_FILE.search(text)
    byte = _AT_BYTE.search(text)
    record = _IN_RECORD.search(text)
    kinds = []
    category = _DUCK_CATEGORY.match(text)
    if category:
        kinds.append(category.group(1))
    json_kind = _JSON_KIND.search(text)
    if json_kind:
        kinds.append(f"{json_kind.group(1)}: {json_kind.group(2)}")
    return Locator(
        file=file.group(1) if file else None,
        record=int(record.group(1)) if record else None,
        byte_offset=int(byte.group(1)) if byte else None,
        kind="; ".join(kinds) or None,
    )


def locate(exc: BaseException) -> Locator:
    """The locator of an exception: its own, or read from known attributes and grammars."""
    own = getattr(exc, "locator", None)
    if isinstance(own, Locator):
        return own
    if isinstance(exc, UnicodeError) and isinstance(getattr(exc, "start", None), int):
        encoding, reason = getattr(exc, "encoding", None), getattr(exc, "reason", None)
        return Locator(byte_offset=exc.start, kind=f"{encoding}: {reason}")  # type: ignore[attr-defined]
    if isinstance(exc, ValueError) and hasattr(exc, "lineno") and hasattr(exc, "pos"):
        # json.JSONDecodeError: msg is one of json's fixed phrases, doc is the input (unused)
        msg = getattr(exc, "msg", None)
        return Locator(record=exc.lineno, byte_offset=exc.pos, kind=msg if _plain(msg) else None)
    if isinstance(exc, OSError) and (exc.errno is not None or exc.filename is not None):
        kind = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno is not None else None
        return Locator(file=str(exc.filename) if exc.filename else None, kind=kind)
    return _message_locator(str(exc) if exc.args else "")


def _plain(text: Any) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[A-Za-z][A-Za-z ',-]{0,80}", text) is not None


# Exceptions ----------------------------------------------------------------------------------


def own_class(exc: BaseException) -> bool:
    """Whether the exception's class is defined by this project."""
    module = type(exc).__module__ or ""
    return module == "pipelines" or module.startswith("pipelines.")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def raised_by_us(exc: BaseException) -> bool:
    """Whether a builtin exception was raised by a ``raise`` statement of this package (with
    a message we wrote), rather than by a library or a C function called from it."""
    if type(exc).__module__ != "builtins":
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise ")


def is_ours(exc: BaseException) -> bool:
    """Whether the exception's text was written by this project, or already redacted."""
    return own_class(exc) or bool(getattr(exc, _SAFE_ATTR, False)) or raised_by_us(exc)


def _text_safe(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return any(module == m or module.startswith(m + ".") for m in _TEXT_SAFE_MODULES)


def safe_text(exc: BaseException) -> str:
    """The exception's message as it may leave: redacted text of ours, a locator otherwise."""
    try:
        if is_ours(exc) or _text_safe(exc):
            text = redact_text(str(exc))
        else:
            where = locate(exc).describe()
            text = f"{where} ({WITHHELD})" if where else f"({WITHHELD})"
    except Exception:  # an exception whose str() fails: nothing of it is shown
        text = f"({WITHHELD})"
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


def describe(exc: BaseException) -> str:
    """``"<Class>: <safe text>"``: what logs, events and commands may say about ``exc``."""
    return f"{type(exc).__name__}: {safe_text(exc)}"


def mark_safe(exc: BaseException) -> BaseException:
    """Vouch that ``exc``'s text is already redacted (e.g. built from :func:`safe_text`)."""
    with contextlib.suppress(AttributeError, TypeError):  # an exception without __dict__
        setattr(exc, _SAFE_ATTR, True)
    return exc


def vouch(exc: BaseException) -> BaseException:
    """Treat ``exc``'s text as ours (a decision the caller raised on purpose): its string
    arguments pass the text redactor, and it is marked safe."""
    with contextlib.suppress(Exception):  # an exception whose args cannot be set
        exc.args = tuple(redact_text(a) if isinstance(a, str) else a for a in exc.args)
    return mark_safe(exc)


def _settled(exc: BaseException, text: str) -> bool:
    shown = str(exc)
    return shown == text or (isinstance(exc, KeyError) and shown == repr(text))


def _redact_one(exc: BaseException) -> BaseException:
    """``exc`` with its text made safe in place, or a stand-in when that is not possible."""
    if getattr(exc, _SAFE_ATTR, False):
        return exc
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [redact_text(str(n)) for n in notes]
    if isinstance(exc, BaseExceptionGroup):
        return _redact_group(exc)
    if isinstance(exc, UnicodeError) and isinstance(getattr(exc, "start", None), int):
        # str() is built from encoding, position and reason, never from the input itself
        return mark_safe(exc)
    try:
        if is_ours(exc) or _text_safe(exc):
            if _settled(exc, redact_text(str(exc))):
                return mark_safe(exc)
            exc.args = tuple(redact_text(a) if isinstance(a, str) else a for a in exc.args)
            if _settled(exc, redact_text(str(exc))):
                return mark_safe(exc)
        else:
            text = safe_text(exc)
            exc.args = (text,)
            if _settled(exc, text):
                return mark_safe(exc)
    except Exception:  # pragma: no cover - an exception whose args cannot be set
        pass
    stand_in = RedactedError(describe(exc))
    stand_in.__traceback__ = exc.__traceback__
    stand_in.__cause__, stand_in.__context__ = exc.__cause__, exc.__context__
    stand_in.__suppress_context__ = exc.__suppress_context__
    return mark_safe(stand_in)


def _redact_group(group: BaseExceptionGroup[Any]) -> BaseException:
    """A group's own message is replaced by a new group holding the same members."""
    text = redact_text(group.message) if is_ours(group) else f"({WITHHELD})"
    if text == group.message:
        return mark_safe(group)
    stand_in = BaseExceptionGroup(text, list(group.exceptions))
    stand_in.__traceback__ = group.__traceback__
    stand_in.__cause__, stand_in.__context__ = group.__cause__, group.__context__
    stand_in.__suppress_context__ = group.__suppress_context__
    return mark_safe(stand_in)


def redact_exception(exc: BaseException) -> BaseException:
    """Make ``exc`` and every exception chained to it safe to print; returns what to raise.

    Texts are replaced in place, so the exception keeps its class (retries, ``except``
    clauses and ``AirflowFailException`` behave as before) and its traceback; an exception
    whose text cannot be replaced is returned (or linked) as a :class:`RedactedError`.
    """
    top = _redact_one(exc)
    done = {id(exc): top, id(top): top}  # each exception seen -> what stands for it
    todo = [top]
    while todo:
        current = todo.pop()
        for member in getattr(current, "exceptions", None) or ():  # an exception group
            if isinstance(member, BaseException) and id(member) not in done:
                done[id(member)] = member
                if _redact_one(member) is member:
                    todo.append(member)
        for link in ("__cause__", "__context__"):
            chained = getattr(current, link)
            if chained is None:
                continue
            if id(chained) not in done:  # the same exception may be cause and context
                done[id(chained)] = replaced = _redact_one(chained)
                done[id(replaced)] = replaced
                todo.append(replaced)
            if done[id(chained)] is not chained:
                setattr(current, link, done[id(chained)])
    return top


def format_exception(exc: BaseException) -> str:
    """A traceback (code locations only) with the safe text of each chained exception."""
    lines: list[str] = []
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    for position, item in enumerate(reversed(chain)):
        if position:
            lines.append("\nThe above exception led to the following one:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(item.__traceback__))
        lines.append(describe(item) + "\n")
    return "".join(lines).rstrip("\n")


# Logging -------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Redacts a record's message and arguments and replaces its traceback by a safe one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SAFE_ATTR, False):
            return True
        try:
            args = record.args
            if isinstance(args, tuple):
                record.args = tuple(
                    describe(a) if isinstance(a, BaseException) else a for a in args
                )
            elif isinstance(args, dict):
                record.args = {
                    k: describe(v) if isinstance(v, BaseException) else v for k, v in args.items()
                }
            message = redact_text(record.getMessage())
        except Exception:  # a record that cannot be formatted: say so, without its content
            message = f"(unformattable log record from {record.name})"
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + format_exception(record.exc_info[1])
        elif record.exc_text:
            message += "\n" + redact_text(record.exc_text)
        record.msg, record.args = message, None
        record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        setattr(record, _SAFE_ATTR, True)
        return True


FILTER = RedactingFilter()


def install_log_filter(*loggers: logging.Logger | str) -> None:
    """Put :data:`FILTER` on the root logger's handlers (every record propagating to them,
    whichever logger made it) and on ``loggers`` themselves; idempotent."""
    handlers = list(logging.getLogger().handlers)
    for item in loggers:
        logger = logging.getLogger(item) if isinstance(item, str) else item
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
        handlers += logger.handlers
    for handler in handlers:
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)


# SQL -----------------------------------------------------------------------------------------

SQL_FUNCTION = "pipelines_redact_text"


def register_duckdb(con: Any, name: str = SQL_FUNCTION) -> str:
    """Register ``<name>(text VARCHAR) -> VARCHAR``, :func:`redact_text` in SQL (for texts
    that come from an engine, such as a parser's reason for rejecting a record)."""
    from duckdb.func import FunctionNullHandling

    con.create_function(
        name, redact_text, ["VARCHAR"], "VARCHAR", null_handling=FunctionNullHandling.DEFAULT
    )
    return name
