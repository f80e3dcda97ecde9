"""Finding a table's landing files for a data interval.

Landing layout: ``<landing>/<YYYY-MM-DD>/<file_stem>[-<part>].<ext>``, one folder per
delivery date. A folder belongs to an interval when its date (midnight UTC) lies inside it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipelines.contracts import LANDING_FORMATS, Contract
from pipelines.hashing import file_sha256
from pipelines.lake.interval import Interval

FORMATS = LANDING_FORMATS
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # path relative to the landing root, recorded in the lake and manifests
    format: str
    delivery_date: date

    def sha256(self) -> str:
        return file_sha256(self.path)

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def file_format(name: str, stem: str, patterns: Sequence[str] = ()) -> str | None:
    """The format of a landing file name if it belongs to ``stem`` (or matches one of the
    shell ``patterns``), else None."""
    for fmt in sorted(FORMATS, key=len, reverse=True):
        suffix = "." + fmt
        if not name.endswith(suffix):
            continue
        base = name[: -len(suffix)]
        if base == stem or base.startswith(stem + "-"):
            return fmt
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return fmt
        return None
    return None


def delivery_folders(landing: Path, interval: Interval) -> list[tuple[date, Path]]:
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder does not exist: {landing}")
    folders = []
    for entry in sorted(landing.iterdir()):
        if entry.is_dir() and _DAY.match(entry.name):
            day = date.fromisoformat(entry.name)
            if interval.contains_day(day):
                folders.append((day, entry))
    return folders


def find_landing_files(landing: Path, contract: Contract, interval: Interval) -> list[LandingFile]:
    """All files of ``contract``'s table delivered inside ``interval``, in a stable order."""
    found = []
    for day, folder in delivery_folders(landing, interval):
        for entry in sorted(folder.iterdir()):
            fmt = file_format(entry.name, contract.source.file_stem, contract.source.file_patterns)
            if fmt and entry.is_file():
                found.append(LandingFile(entry, entry.relative_to(landing).as_posix(), fmt, day))
    return found
