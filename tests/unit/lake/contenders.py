"""Child processes for the partition-lock tests: one ingestion run each, as two Airflow tasks
(or Celery workers) of one interval would be. Imported by ``multiprocessing`` (spawn)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

STAGED = "staged"  # marker: the run holds a staging folder (its path is the content)
GO = "go"  # marker the paused run waits for


def _pause_after_writing(pause: Path) -> None:
    """Make this process's ingestion stop inside its staging folder until ``pause/go``."""
    from pipelines.ingest import run

    write = run._write_outputs

    def paused(con, contract, folder):  # type: ignore[no-untyped-def]
        counts = write(con, contract, folder)
        (pause / "staged.tmp").write_text(str(folder))
        (pause / "staged.tmp").rename(pause / STAGED)  # the marker appears whole
        deadline = time.monotonic() + 300
        while not (pause / GO).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never released the paused run")
            time.sleep(0.05)
        return counts

    run._write_outputs = paused  # type: ignore[assignment]


def ingest(
    data_dir: str,
    keyring_json: str,
    table: str,
    start: str,
    end: str,
    lock_timeout: float,
    pause: str | None,
    result: str,
) -> None:
    """Ingest ``table`` for ``[start, end)``; write the dataset version, or the error, to
    ``result``; log to ``result + '.log'``."""
    from pipelines.ingest import ingest_table
    from pipelines.lake.interval import Interval
    from pipelines.protection import KeyRing
    from pipelines.settings import Settings

    logging.basicConfig(filename=result + ".log", level=logging.INFO, force=True)
    if pause is not None:
        _pause_after_writing(Path(pause))
    settings = Settings(data_dir=Path(data_dir), duckdb_memory_limit="500MB", duckdb_threads=1)
    keyring = KeyRing.from_json(keyring_json, "test")
    try:
        done = ingest_table(
            table,
            Interval.parse(start, end),
            settings,
            keyring=keyring,
            lock_timeout=lock_timeout,
        )
    except Exception as error:
        Path(result).write_text(f"{type(error).__name__}: {error}")
        raise SystemExit(1) from None
    Path(result).write_text(done.manifest.dataset_version)
