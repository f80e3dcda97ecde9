"""Landing entries a table's ingestion would pass over: named, never skipped in silence.

Ingestion reads the files of a delivery folder whose names its contract claims
(``<file_stem>[-<part>].<ext>``, or ``source.file_patterns``). Anything else is never read, so
before a load the interval's delivery folders are looked over:

* a file or folder that is plainly the table's but cannot be read as such (``orders.CSV``,
  ``orders.csv.bz2``, ``orders.tsv``, a sub-folder ``orders/``) stops the load with an error
  naming it: its records would otherwise be missing from a partition that looks complete (a
  sidecar of a delivered file, ``orders.csv.md5`` or ``orders.csv.done``, is no such file);
* files no contract claims are named in a warning when the table found no file at all (a
  contract whose ``file_stem`` does not match what is delivered loads empty partitions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipelines.contracts import LANDING_FORMATS, Contract, ContractSet
from pipelines.ingest.landing import LandingNameError, Listing, file_format
from pipelines.ingest.undeclared import name_findings


def _claims(contract: Contract, name: str) -> bool:
    return file_format(name, contract.source.file_stem, contract.source.file_patterns) is not None


def _looks_like(contract: Contract, name: str) -> bool:
    """Whether ``name`` starts like ``contract``'s files (any case, any extension, any part
    suffix: ``orders (1).csv``, ``orders_2.csv``)."""
    stem = contract.source.file_stem.lower()
    base = name.lower().split(".", 1)[0]
    return base == stem or (base.startswith(stem) and not base[len(stem)].isalpha())


SIDECARS = frozenset({"md5", "sha1", "sha256", "sha512", "crc", "sig", "asc", "done", "ok",
                      "ready", "complete", "success", "lock"})  # fmt: skip
"""Extensions of files that travel beside a delivered file (checksums, signatures, markers)."""


def _sidecar(name: str, files: set[str]) -> bool:
    """``orders.csv.md5`` beside ``orders.csv``: a checksum or marker, not a data file."""
    base, _, ext = name.rpartition(".")
    return ext.lower() in SIDECARS and base in files


def _shown(contract: Contract, folder: str, name: str) -> str:
    """``folder/name`` as a message may show it: personal data in the name replaced."""
    return name_findings(f"{folder}/{name}", contract)[0]


def _formats() -> str:
    return ", ".join(f".{f}" for f in sorted(LANDING_FORMATS))


def check_listings(
    listings: Sequence[Listing], contracts: ContractSet | Mapping[str, Contract], contract: Contract
) -> list[str]:
    """Raise :class:`LandingNameError` for an entry that looks like ``contract``'s but would
    not be read; return warnings (files no contract claims, when ``contract`` has none)."""
    others = [contracts[t] for t in contracts]
    mine = 0
    unclaimed: list[str] = []
    for listing in listings:
        for name, inside in listing.folders.items():
            if _looks_like(contract, name) or any(
                _claims(contract, f) or _looks_like(contract, f) for f in inside
            ):
                raise LandingNameError(
                    f"{contract.table}: {_shown(contract, listing.folder, name)} is a "
                    "sub-folder named like or holding this table's files; landing files are "
                    f"read from the delivery folder itself ({listing.folder}/"
                    f"{contract.source.file_stem}[-<part>].<ext>), never from a sub-folder: move "
                    "its files up and run again. Nothing was published."
                )
        files = set(listing.files)
        for name in listing.files:
            if _claims(contract, name):
                mine += 1
            elif _sidecar(name, files) or any(_claims(c, name) for c in others):
                continue  # a checksum or marker beside a file, or another table's file
            elif _looks_like(contract, name):
                raise LandingNameError(
                    f"{contract.table}: {_shown(contract, listing.folder, name)} looks like a "
                    f"{contract.table} file but would not be read: landing files end in one of "
                    f"{_formats()} "
                    "(lower case). Convert or rename it and run again. Nothing was published."
                )
            else:
                unclaimed.append(_shown(contract, listing.folder, name))
    if mine or not unclaimed:
        return []
    shown = ", ".join(unclaimed[:5]) + (
        f" and {len(unclaimed) - 5} more" if len(unclaimed) > 5 else ""
    )
    return [
        f"no landing file matched {contract.source.file_stem}[-<part>].<ext> in the interval's "
        f"delivery folders, which hold file(s) no contract claims: {shown}. If one is this "
        f"table's, rename it or set source.file_stem / source.file_patterns in its contract"
    ]
