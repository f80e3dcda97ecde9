"""Finding a table's landing files for a data interval.

Landing layout: ``<landing>/<YYYY-MM-DD>/<file_stem>[-<part>].<ext>``, one folder per
delivery date. A folder belongs to an interval when its date (midnight UTC) lies inside it.

The landing is a local folder (``landing_dir``, the embedded default) or, with
``landing_url`` set (``s3://bucket/prefix``), an object store read through the lake's
storage interface (:func:`pipelines.lake.storage.lake_storage`): the same layout and rules,
listed with each object's size (:func:`find_stored_files`); ingestion copies the interval's
objects into its scratch folder, each checked against its listed size
(:func:`fetch_landing_files`), and reads the local copies as it reads a local landing.
Commands that only work on a local landing ask for it by name (:func:`local_landing`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipelines.contracts import LANDING_FORMATS, Contract
from pipelines.hashing import file_sha256
from pipelines.lake.interval import Interval
from pipelines.lake.storage import LakeStorage, lake_storage
from pipelines.settings import Settings

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


def delivery_day(name: str, interval: Interval) -> date | None:
    """The delivery date of the landing folder ``name`` if it lies inside ``interval``."""
    if not _DAY.match(name):
        return None
    day = date.fromisoformat(name)
    return day if interval.contains_day(day) else None


def delivery_folders(landing: Path, interval: Interval) -> list[tuple[date, Path]]:
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder does not exist: {landing}")
    folders = []
    for entry in sorted(landing.iterdir()):
        if entry.is_dir() and (day := delivery_day(entry.name, interval)) is not None:
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


class LandingNameError(ValueError):
    """A landing file or folder looks like the table's (or a delivery folder) but would not
    be read."""


@dataclass(frozen=True)
class Listing:
    """One delivery folder: its files, and its sub-folders with the files in each."""

    folder: str  # ``YYYY-MM-DD``
    files: Sequence[str]
    folders: Mapping[str, Sequence[str]] = field(default_factory=dict)


_LOOSE_DAY = re.compile(r"^(\d{4})[-_.]?(\d{1,2})[-_.]?(\d{1,2})$")


def check_folder_names(names: Sequence[str], interval: Interval) -> None:
    """Raise :class:`LandingNameError` for a landing folder named like a date inside
    ``interval`` in another form than ``YYYY-MM-DD`` (``20180101``, ``2018-1-1``): its
    files would never be read."""
    for name in names:
        loose = None if _DAY.match(name) else _LOOSE_DAY.match(name)
        if loose is None:
            continue
        try:
            day = date(*(int(g) for g in loose.groups()))
        except ValueError:
            continue
        if interval.contains_day(day):
            raise LandingNameError(
                f"landing folder {name} looks like the delivery date {day.isoformat()}, inside "
                f"the interval, but delivery folders are named YYYY-MM-DD: rename it to "
                f"{day.isoformat()} and run again. Nothing was published."
            )


def local_listings(landing: Path, interval: Interval) -> list[Listing]:
    """The interval's delivery folders under ``landing``, as :class:`Listing` s."""
    check_folder_names([e.name for e in landing.iterdir() if e.is_dir()], interval)
    listings = []
    for _, folder in delivery_folders(landing, interval):
        entries = sorted(folder.iterdir())
        files = [e.name for e in entries if e.is_file()]
        subs = {e.name: sorted(f.name for f in e.iterdir()) for e in entries if e.is_dir()}
        listings.append(Listing(folder.name, files, subs))
    return listings


def stored_listings(store: LakeStorage, interval: Interval) -> list[Listing]:
    """The interval's delivery folders on ``store``, as :class:`Listing` s."""
    top = store.scan("").folders
    check_folder_names(top, interval)
    listings = []
    for name in top:
        if delivery_day(name, interval) is not None:
            scan = store.scan(name)
            subs = {sub: sorted(store.scan(f"{name}/{sub}").files) for sub in scan.folders}
            listings.append(Listing(name, sorted(scan.files), subs))
    return listings


# Landing files on an object store ------------------------------------------------------------


class LandingOnStoreError(RuntimeError):
    """A command that reads a local landing folder ran with ``landing_url`` set."""


class IncompleteLandingFile(RuntimeError):
    """A landing object could not be copied whole into the worker's scratch folder."""


@dataclass(frozen=True)
class StoredLandingFile:
    """A landing object as listed on the store (not yet copied)."""

    relative: str  # ``<YYYY-MM-DD>/<name>``, relative to ``landing_url``, as a local run records
    format: str
    delivery_date: date
    size: int  # bytes, as listed


def landing_store(settings: Settings) -> LakeStorage | None:
    """The object store holding the landing files (``landing_url``), or None for the local
    folder ``settings.landing``."""
    return lake_storage(settings.landing_url) if settings.landing_url else None


def local_landing(settings: Settings, command: str) -> Path:
    """``settings.landing`` for ``command``, which reads a local landing folder only; raises
    :class:`LandingOnStoreError` when the landing files are on a store (``landing_url``)."""
    if settings.landing_url:
        raise LandingOnStoreError(
            f"{command} reads a local landing folder, but the landing files are on a store "
            f"(landing_url = {settings.landing_url}); run it where the landing is local "
            "(unset PIPELINES_LANDING_URL, set PIPELINES_LANDING_DIR) or on a copy of the files"
        )
    return settings.landing


def landing_location(settings: Settings, relative: str) -> Path | str:
    """Where the landing file ``relative`` lives: a local path or its ``s3://`` URL."""
    if settings.landing_url:
        return f"{settings.landing_url.rstrip('/')}/{relative}"
    return settings.landing / relative


def find_stored_files(
    store: LakeStorage, contract: Contract, interval: Interval, *, must_exist: bool = True
) -> list[StoredLandingFile]:
    """:func:`find_landing_files` on a store: the same folders, names and order. A store
    with nothing under its prefix is an error (like a missing local folder) unless not
    ``must_exist``."""
    top = store.scan("")
    if must_exist and not top.folders and not top.files:
        raise FileNotFoundError(
            f"no landing files on the store: nothing under {store.root}; upload deliveries as "
            f"{store.root.rstrip('/')}/<YYYY-MM-DD>/<file> (README, production)"
        )
    found = []
    source = contract.source
    for name in top.folders:
        day = delivery_day(name, interval)
        if day is None:
            continue
        for file, size in store.scan(name).files.items():
            fmt = file_format(file, source.file_stem, source.file_patterns)
            if fmt:
                found.append(StoredLandingFile(f"{name}/{file}", fmt, day, size))
    return found


def fetch_landing_files(
    store: LakeStorage, files: Sequence[StoredLandingFile], folder: Path
) -> list[LandingFile]:
    """Copy ``files`` to ``folder/<relative>``; each copy must have the listed size, else
    :class:`IncompleteLandingFile` names the file (a gzip file's end is checked later, as
    for any landing file)."""
    local = []
    for file in files:
        path = folder / file.relative
        try:
            store.get(file.relative, path)
        except Exception as exc:  # the client's errors name no data, only the object
            raise IncompleteLandingFile(
                f"{file.relative}: could not copy {store.uri(file.relative)} "
                f"({type(exc).__name__}); nothing was published. Run again; if it keeps "
                "failing, check the object and the store's credentials"
            ) from exc
        got = path.stat().st_size
        if got != file.size:
            raise IncompleteLandingFile(
                f"{file.relative}: copied {got:,} bytes of {store.uri(file.relative)}, listed "
                f"with {file.size:,}; the object changed or the transfer was cut short, "
                "nothing was published. Run again once the delivery is complete"
            )
        local.append(LandingFile(path, file.relative, file.format, file.delivery_date))
    return local


def upload_landing(folder: Path, store: LakeStorage) -> list[str]:
    """Put every file under the local landing ``folder`` on ``store`` at its relative name
    (``<YYYY-MM-DD>/<file>``); returns the names, sorted."""
    names = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        store.put(path, rel)
        names.append(rel)
    return names


def purge_stored_landing(
    store: LakeStorage, contract: Contract, interval: Interval
) -> list[dict[str, str]]:
    """Delete ``contract``'s landing objects delivered inside ``interval`` from the landing
    ``store`` (retention); returns ``{"file", "sha256"}`` of each, hashed before its delete."""
    gone = []
    for file in find_stored_files(store, contract, interval, must_exist=False):
        digest = store.sha256(file.relative)
        if digest is None:  # deleted since the listing (another purge)
            continue
        store.delete(file.relative)
        gone.append({"file": file.relative, "sha256": digest})
    return gone
