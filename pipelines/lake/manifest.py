"""The per-partition manifest: what went in, what came out, and under which contract and keys.

Written next to the data inside the partition folder, in the same atomic publish. It holds
no data values, only names, counts, hashes and versions.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

MANIFEST_NAME = "manifest.json"
DATA_NAME = "data.parquet"
QUARANTINE_NAME = "quarantine.parquet"


class SourceFileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    format: str
    delivery_date: str
    bytes: int
    sha256: str
    records: int
    parsed: int
    malformed: int
    missing_columns: list[str] = []
    ignored_columns: list[str] = []


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read: int
    loaded: int
    quarantined: int
    dropped: int = 0
    """Exact duplicates dropped by the contract's ``row_key.duplicates: drop``."""
    suppressed: int = 0
    """Rows of erased subjects (the suppression list, :mod:`pipelines.privacy.suppression`)
    dropped at ingestion or removed by an erasure."""

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.quarantined + self.dropped + self.suppressed


class LakeColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    source_column: str
    pii: str
    protection: str
    masked: bool


class UndeclaredPiiFinding(BaseModel):
    """Personal data found in a column the contract keeps in clear (never the value)."""

    model_config = ConfigDict(extra="forbid")

    column: str
    entity: str  # the detector: EMAIL, PHONE, CPF, ...
    policy: str  # the contract's undeclared_pii.on_hit that applied: quarantine or warn
    sampled: int  # values of the column sampled, over all files
    hits: int  # sampled values holding the entity
    quarantined: int = 0  # rows quarantined for it (policy quarantine: after a full scan)
    locators: list[str] = []  # up to five "<file> record <n>"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str
    partition: str
    interval_start: str
    interval_end: str
    contract_version: int
    contract_fingerprint: str
    run_id: str | None
    source_files: list[SourceFileEntry]
    counts: Counts
    quarantine_by_check: dict[str, int]
    dataset_version: str  # SHA-256 of data.parquet
    quarantine_version: str  # SHA-256 of quarantine.parquet
    columns: list[LakeColumn]
    key_versions: dict[str, str]  # purpose -> active key id used
    key_fingerprints: dict[str, str]
    undeclared_pii: list[UndeclaredPiiFinding] = []

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_NAME
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
