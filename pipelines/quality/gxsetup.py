"""A quiet, offline Great Expectations: no usage statistics, progress bars, chatter or leaks.

* ``GX_ANALYTICS_ENABLED=false`` is set before GX is imported (see the package
  ``__init__``), and every context is created with ``analytics_enabled=False``;
* progress bars are off; the ``great_expectations`` loggers only pass ERROR and above, and
  the records they do pass have quoted text redacted (a database error can quote a value);
* :func:`quiet` silences GX's warnings while GX runs (``warnings`` filters are restored on
  exit, so the rest of the process is unaffected);
* every context is *ephemeral* (in-memory stores); the only thing GX writes to disk is the
  Data Docs site we configure (see :mod:`pipelines.quality.docs`).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pipelines.quality  # noqa: F401  (sets GX_ANALYTICS_ENABLED before GX is imported)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
GX_LOGGERS = ("great_expectations", "great_expectations.core", "great_expectations.render")


def redact(text: str) -> str:
    """Replace every quoted literal in ``text`` by ``'…'`` (errors may quote data values),
    then pass it through the text redactor (:func:`pipelines.redact.redact_text`)."""
    from pipelines.redact import redact_text

    return redact_text(_QUOTED.sub("'…'", text))


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a broken record: drop it
            return False
        record.msg, record.args = redact(message), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = _RedactFilter()


def configure_logging() -> None:
    """GX logs ERROR and above only, redacted; idempotent."""
    for name in GX_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@contextmanager
def quiet() -> Iterator[None]:
    """Run GX with its warnings suppressed and its loggers quiet."""
    configure_logging()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def new_context(docs_dir: Path | None = None) -> Any:
    """An ephemeral GX context; with ``docs_dir``, one local Data Docs site there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites["quality"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    with quiet():
        return gx.get_context(mode="ephemeral", project_config=config)
