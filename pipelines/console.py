"""Terminal output for the command line: quiet third-party loggers, readable progress, and
error messages that passed the redaction boundary (:mod:`pipelines.redact`)."""

from __future__ import annotations

import logging
import os
import sys
import warnings

from pipelines.redact import install_log_filter

NOISY_LOGGERS = (
    "great_expectations",
    "airflow",
    "alembic",
    "sqlalchemy",
    "dbt",
    "urllib3",
    "openlineage",
    "py.warnings",
)


def setup_logging(verbose: bool = False) -> None:
    """Log ``pipelines.*`` progress to stderr; keep library chatter out of the terminal."""
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    install_log_filter("pipelines")
    logging.getLogger("pipelines").setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
        os.environ.setdefault("PYTHONWARNINGS", "ignore")


def task_logging() -> None:
    """Inside an Airflow task: keep Airflow's handlers (they route to the task log), show
    ``pipelines.*`` progress at INFO, and quiet the libraries."""
    logging.getLogger("pipelines").setLevel(logging.INFO)
    for name in NOISY_LOGGERS:
        if name != "airflow":
            logging.getLogger(name).setLevel(logging.ERROR)
    install_log_filter("pipelines")
    warnings.filterwarnings("ignore")


def safe_error(exc: BaseException) -> str:
    """What the terminal may say about ``exc``: our messages redacted, others reduced to
    their class and locator (see :func:`pipelines.redact.safe_text`)."""
    from pipelines.redact import describe, own_class, raised_by_us, redact_exception, safe_text

    ours = own_class(exc) or raised_by_us(exc)
    shown = redact_exception(exc)
    return safe_text(shown) if ours and shown is exc else describe(shown)


def error_message(exc: BaseException) -> str:
    """``error: ...`` for the terminal (:func:`safe_error`)."""
    return f"error: {safe_error(exc)}"


def report_error(exc: BaseException, *, verbose: bool = False) -> int:
    """Print a command's failure to stderr, redacted (with a redacted traceback if
    ``verbose``); returns the exit status 1."""
    from pipelines.redact import format_exception, redact_exception

    if verbose:
        print(format_exception(redact_exception(exc)), file=sys.stderr)
    print(error_message(exc), file=sys.stderr)
    return 1


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left/right aligned text table (numbers right-aligned)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]

    def fmt(row: list[str]) -> str:
        cells = []
        for value, width in zip(row, widths, strict=False):
            text = str(value)
            numeric = text.replace(",", "").replace(".", "").replace("-", "").isdigit()
            cells.append(text.rjust(width) if numeric else text.ljust(width))
        return "  ".join(cells).rstrip()

    line = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), line, *(fmt(r) for r in rows)])
