"""Reading the lake's layout: tables, partitions and their manifests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.ingest.interval import Interval
from pipelines.ingest.manifest import DATA_NAME, Manifest


@dataclass(frozen=True)
class Partition:
    table: str
    folder: Path
    manifest: Manifest

    @property
    def interval(self) -> Interval:
        return Interval(
            datetime.fromisoformat(self.manifest.interval_start),
            datetime.fromisoformat(self.manifest.interval_end),
        )

    @property
    def data_file(self) -> Path:
        return self.folder / DATA_NAME


def partitions(lake: Path, table: str) -> list[Partition]:
    """The published partitions of ``table`` (hidden staging/trash folders excluded)."""
    table_dir = lake / table
    if not table_dir.is_dir():
        return []
    found = []
    for folder in sorted(table_dir.iterdir()):
        if (
            folder.is_dir()
            and folder.name.startswith("dt=")
            and (folder / "manifest.json").exists()
        ):
            found.append(Partition(table, folder, Manifest.read(folder)))
    return found


def partitions_until(lake: Path, table: str, end: datetime) -> list[Partition]:
    """Partitions whose interval starts before ``end`` (what a run for ``[.., end)`` may see)."""
    return [p for p in partitions(lake, table) if p.interval.start < end]
