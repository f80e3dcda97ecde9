"""Finding 5: keys are bound to their ids. A key ring whose bytes differ for an id the lake
already knows is a named error before anything is written."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from protection_helpers import assert_no_key_material

from pipelines.contracts import ContractSet
from pipelines.ingest import ingest_table
from pipelines.lake.interval import Interval
from pipelines.protection import KeyRing
from pipelines.protection.errors import KeyMismatchError
from pipelines.protection.registry import REGISTRY_NAME, KeyRegistry
from pipelines.settings import Settings
from tests.factories import DAY, clean_day, write_day

INTERVAL = Interval.parse(DAY, "2018-01-02")
NEXT_DAY = Interval.parse("2018-01-02", "2018-01-03")


def _lake_files(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_fingerprint_is_keyed_and_bound_to_the_id(keyring: KeyRing) -> None:
    key = keyring.encryption.active
    fp = key.fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == key.fingerprint()
    plain = hashlib.sha256(key.secret).hexdigest()
    assert fp not in plain and fp not in key.secret.hex()
    message = b"pipelines/key-fingerprint/v2\x00encryption\x00e1"
    assert fp == hmac.new(key.secret, message, hashlib.sha256).hexdigest()[:16]
    same_bytes_other_id = type(key)("e2", key.purpose, key.secret)
    assert same_bytes_other_id.fingerprint() != fp


def test_registry_records_ids_and_fingerprints_and_never_key_bytes(
    tmp_path: Path, keyring: KeyRing
) -> None:
    registry = KeyRegistry.for_lake(tmp_path / "lake")
    assert registry.path == tmp_path / "lake" / REGISTRY_NAME
    registry.bind(keyring)
    text = registry.path.read_text()
    assert_no_key_material(text, keyring)
    known = json.loads(text)["keys"]
    assert known["pseudonymization"] == {"p1": keyring.pseudonymization.active.fingerprint()}
    assert known["encryption"] == {"e1": keyring.encryption.active.fingerprint()}
    registry.bind(keyring)  # the same ring again: fine
    rotated = keyring.rotated("encryption")
    registry.bind(rotated)  # a new id is learned
    assert set(json.loads(registry.path.read_text())["keys"]["encryption"]) == {"e1", "e2"}


def test_registry_refuses_other_bytes_for_a_known_id(tmp_path: Path, keyring: KeyRing) -> None:
    registry = KeyRegistry.for_lake(tmp_path / "lake")
    registry.bind(keyring)
    before = registry.path.read_bytes()
    other = KeyRing.generate()  # the same ids, p1 and e1, other bytes
    with pytest.raises(KeyMismatchError) as info:
        registry.bind(other)
    message = str(info.value)
    assert "pseudonymization key 'p1'" in message and str(registry.path) in message
    assert keyring.pseudonymization.active.fingerprint() in message
    assert other.pseudonymization.active.fingerprint() in message
    assert "pipelines keys show" in message
    assert_no_key_material(message, keyring)
    assert_no_key_material(message, other)
    assert registry.path.read_bytes() == before
    with pytest.raises(KeyMismatchError, match="encryption key 'e1'"):
        registry.check(other, purposes=["encryption"])


def test_ingestion_refuses_another_ring_with_the_same_ids_before_writing(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
) -> None:
    write_day(write_landing, contracts, clean_day())
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    before = _lake_files(settings.lake)
    other = KeyRing.generate()
    with pytest.raises(KeyMismatchError, match=r"pseudonymization key 'p1'") as info:
        ingest_table("customers", INTERVAL, settings, keyring=other, contracts=contracts)
    assert_no_key_material(str(info.value), other)
    assert _lake_files(settings.lake) == before
    # The right ring still works.
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)


def test_manifests_catch_another_ring_when_the_registry_is_gone(
    settings: Settings, keyring: KeyRing, contracts: ContractSet, write_landing
) -> None:
    write_day(write_landing, contracts, clean_day())
    ingest_table("customers", INTERVAL, settings, keyring=keyring, contracts=contracts)
    (settings.lake / REGISTRY_NAME).unlink()
    write_day(write_landing, contracts, clean_day(), day="2018-01-02")
    with pytest.raises(KeyMismatchError, match=r"customers/dt=2018-01-01.*'p1'"):
        ingest_table("orders", NEXT_DAY, settings, keyring=KeyRing.generate(), contracts=contracts)


def test_legacy_manifest_fingerprints_still_compare(keyring: KeyRing) -> None:
    key = keyring.pseudonymization.active
    legacy = hashlib.sha256(
        b"pipelines/key-fingerprint/v1\x00pseudonymization\x00" + key.secret
    ).hexdigest()[:8]
    assert key.matches_fingerprint(legacy)
    assert key.matches_fingerprint(key.fingerprint())
    assert not key.matches_fingerprint(KeyRing.generate().pseudonymization.active.fingerprint())


def test_reidentification_refuses_another_ring_and_audits_it(
    tmp_path: Path, keyring: KeyRing
) -> None:
    from pipelines.protection import AuditLog, Encryptor, reidentify

    registry = KeyRegistry.for_lake(tmp_path / "lake")
    registry.bind(keyring)
    other = KeyRing.generate()
    token = Encryptor(other).encrypt("ana@example.com", "customer_profiles.email")
    log = AuditLog(tmp_path / "audit.jsonl", other)
    with pytest.raises(KeyMismatchError, match="encryption key 'e1'"):
        reidentify(
            other, log, table="customer_profiles", column="email", token=token,
            actor="alice", reason="ticket 1", registry=registry,
        )  # fmt: skip
    (entry,) = log.entries()
    assert entry["details"]["outcome"] == "refused"
    assert entry["details"]["error"] == "KeyMismatchError"


@pytest.mark.parametrize("text", ["not json", "[]", '{"format": 1}', '{"format": 9, "keys": {}}'])
def test_unreadable_registry_is_a_named_error(tmp_path: Path, keyring: KeyRing, text: str) -> None:
    from pipelines.protection import KeyRingFormatError

    registry = KeyRegistry.for_lake(tmp_path)
    registry.path.write_text(text)
    with pytest.raises(KeyRingFormatError, match=REGISTRY_NAME):
        registry.bind(keyring)
