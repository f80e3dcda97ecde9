"""A writer killed mid-publication: ``python -m tests.unit.lake.killed_writer TABLE START END``
ingests ``TABLE`` with the settings of its environment and SIGKILLs itself (no clean-up, no
``finally``) when it is about to write the partition's manifest to the object store, i.e.
after its data and quarantine objects were written; with a DuckLake catalog
(``PIPELINES_LAKE_CATALOG_URL``) when it is about to commit in the catalog instead."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from pipelines.ingest import ingest_table
from pipelines.lake import stored
from pipelines.lake.interval import Interval
from pipelines.lake.manifest import MANIFEST_NAME
from pipelines.lake.storage import S3Storage
from pipelines.settings import Settings

_put = S3Storage.put


def _put_then_die(self: S3Storage, local: Path, rel: str) -> None:
    if rel.endswith(MANIFEST_NAME):
        os.kill(os.getpid(), signal.SIGKILL)
    _put(self, local, rel)


def _die(part: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    table, start, end = sys.argv[1:4]
    S3Storage.put = _put_then_die  # type: ignore[method-assign]
    stored._commit = _die  # type: ignore[assignment]
    ingest_table(table, Interval.parse(start, end), Settings())  # a process of its own: its edge
    sys.exit("the manifest was written: the writer was not killed")


if __name__ == "__main__":
    main()
