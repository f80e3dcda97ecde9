"""Appending one line to a JSON-lines file: one ``write(2)`` on an ``O_APPEND`` descriptor, so
processes appending at the same time never interleave lines.

Shared by the default transport (:mod:`pipelines.lineage.transport`) and the error log
(:mod:`pipelines.lineage.emit`); it imports nothing of openlineage-python.
"""

from __future__ import annotations

import os
from pathlib import Path


def append_line(path: Path, line: str) -> None:
    """Append ``line`` plus a newline with a single ``write`` on an ``O_APPEND`` descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a regular file takes it whole; just in case
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)
