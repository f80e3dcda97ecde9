"""One small governed data directory for the portal tests, built once per session through the
stages' own entry points: a day of landing data carrying PII canaries, ingested, validated,
gated, a feature release selected, and a re-identification in the audit log."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.portal.access import Role
from pipelines.portal.app import create_app
from pipelines.protection import AuditLog, KeyRing, create_keyring, keyring_from_settings
from pipelines.settings import Settings
from tests.conftest import built_once
from tests.factories import DAY, clean_day, to_csv

RUN = "manual__portal-test"


@dataclass
class PortalData:
    settings: Settings
    keyring: KeyRing

    def client(self, role: Role | None) -> TestClient:
        return TestClient(create_app(self.settings, lambda: role))


def _write_day(settings: Settings, contracts: ContractSet) -> None:
    folder = settings.landing / DAY
    folder.mkdir(parents=True)
    for table, rows in clean_day().items():
        stem = contracts[table].source.file_stem
        (folder / f"{stem}.csv").write_text(to_csv(contracts, table, rows), encoding="utf-8")


def _reidentify_once(settings: Settings, keyring: KeyRing, contracts: ContractSet) -> None:
    import duckdb

    from pipelines.protection import reidentify

    data = next((settings.lake / "customer_profiles").glob("dt=*/data.parquet"))
    token = duckdb.sql(f"SELECT email FROM '{data}' LIMIT 1").fetchone()[0]  # type: ignore[index]
    reidentify(
        keyring,
        AuditLog(settings.audit, keyring),
        table="customer_profiles",
        column="email",
        token=token,
        actor="dpo@example.com",
        reason="subject access request 42",
        contracts=contracts,
    )


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        key_file=root / "keys.json",
        duckdb_memory_limit="1GB",
        duckdb_threads=2,
    )


def _build(root: Path, contracts: ContractSet) -> None:
    from pipelines.features.release import select_release
    from pipelines.features.snapshots import write_release
    from pipelines.quality.runner import validate_partition
    from pipelines.quality.tasks import gate

    create_keyring(root / "keys.json")
    settings = _settings(root)
    keyring = keyring_from_settings(settings)
    _write_day(settings, contracts)
    interval = Interval.day(date.fromisoformat(DAY))
    for table in contracts.load_order():
        ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)
        validate_partition(table, interval, settings, run_id=RUN, contracts=contracts)
    gate(interval.start, interval.end, RUN, settings=settings)
    write_release(settings, select_release(settings, date(2018, 1, 2), RUN))
    _reidentify_once(settings, keyring, contracts)


@pytest.fixture(scope="session")
def portal_data(tmp_path_factory: pytest.TempPathFactory, contracts: ContractSet) -> PortalData:
    """Built once per test session (the first xdist worker to need it builds it under a lock,
    ~8 CPU s); each worker then works on its own copy, so nothing one worker's tests write
    (audit entries, ledgers) reaches another's."""
    shared = built_once(tmp_path_factory, "portal-data", lambda root: _build(root, contracts))
    root = tmp_path_factory.mktemp("portal")
    shutil.copytree(shared, root, dirs_exist_ok=True)
    settings = _settings(root)
    return PortalData(settings, keyring_from_settings(settings))


@pytest.fixture
def get(portal_data: PortalData) -> Callable[..., object]:
    def fetch(path: str, role: Role | None = Role.GOVERNANCE) -> object:
        return portal_data.client(role).get(path)

    return fetch
