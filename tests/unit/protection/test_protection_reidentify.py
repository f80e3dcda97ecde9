from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.contracts import ContractSet, load_contracts
from pipelines.protection import (
    AuditLog,
    DecryptionError,
    Encryptor,
    KeyRing,
    NotReversibleError,
    Pseudonymizer,
    ReidentificationRefused,
    reidentify,
    subject_digest,
)
from pipelines.settings import PROJECT_DIR

EMAIL = "maria.souza@example.com.br"


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contracts(PROJECT_DIR / "contracts")


@pytest.fixture
def log(tmp_path: Path, keyring: KeyRing) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl", keyring)


def _token(keyring: KeyRing, column: str = "email", value: str = EMAIL) -> str:
    return Encryptor(keyring).encrypt(value, f"customer_profiles.{column}")


def test_reidentify_returns_value_and_audits_without_clear_text(
    keyring: KeyRing, log: AuditLog, contracts: ContractSet
) -> None:
    token = _token(keyring)
    value = reidentify(
        keyring,
        log,
        table="customer_profiles",
        column="email",
        token=token,
        actor="alice",
        reason="customer service ticket 123",
        contracts=contracts,
    )
    assert value == EMAIL
    (entry,) = log.entries()
    assert entry["actor"] == "alice" and entry["action"] == "reidentify"
    assert entry["reason"] == "customer service ticket 123"
    assert entry["subject"] == subject_digest(token)
    assert entry["details"] == {
        "table": "customer_profiles",
        "column": "email",
        "key_id": "e1",
        "contract_checked": True,
        "outcome": "success",
        "error": None,
    }
    text = log.path.read_text()
    assert EMAIL not in text and "maria" not in text and token not in text
    assert log.verify().entries == 1


def test_contract_objects_and_contracts_dir(
    keyring: KeyRing, log: AuditLog, contracts: ContractSet
) -> None:
    phone = "+55 11 91234-5678"
    token = _token(keyring, "phone", phone)
    contract = contracts["customer_profiles"]
    targets: list[dict[str, Any]] = [
        {"table": contract, "column": "phone"},
        {"table": contract, "column": contract.column("phone")},
        {"table": "customer_profiles", "column": "phone", "contracts": PROJECT_DIR / "contracts"},
    ]
    for target in targets:
        assert reidentify(keyring, log, token=token, actor="bob", reason="r", **target) == phone
    assert log.verify().entries == 3
    assert all(e["details"]["contract_checked"] for e in log.entries())


@pytest.mark.parametrize(
    ("actor", "reason", "token"),
    [("alice", "", "t"), ("alice", "   ", "t"), ("", "ticket 1", "t"), (" ", "", ""),
     ("alice", "ticket 1", "")],
)  # fmt: skip
def test_refusals_without_actor_reason_or_token_are_logged(
    keyring: KeyRing, log: AuditLog, actor: str, reason: str, token: str
) -> None:
    token = _token(keyring) if token else ""
    missing = "actor" if not actor.strip() else "reason" if not reason.strip() else "token"
    with pytest.raises(ReidentificationRefused, match=missing):
        reidentify(
            keyring,
            log,
            table="customer_profiles",
            column="email",
            token=token,
            actor=actor,
            reason=reason,
        )
    (entry,) = log.entries()
    assert entry["actor"] == (actor.strip() or "(blank)")
    assert entry["reason"] == (reason.strip() or "(blank)")
    assert entry["subject"] == (subject_digest(token) if token else None)
    assert entry["details"]["outcome"] == "refused"
    assert entry["details"]["error"] == "ReidentificationRefused"
    assert log.verify().entries == 1


def test_pseudonymized_columns_are_not_reversible(
    keyring: KeyRing, log: AuditLog, contracts: ContractSet
) -> None:
    token = Pseudonymizer(keyring).token("861eff4711a542e4b93843c6dd7febb0")
    for kwargs in (
        {"table": "customers", "column": "customer_unique_id", "contracts": contracts},
        {"table": "customers", "column": "customer_unique_id"},  # detected from the token
    ):
        with pytest.raises(NotReversibleError, match=r"pseudonymized.*one-way"):
            reidentify(keyring, log, token=token, actor="alice", reason="curious", **kwargs)
    outcomes = [e["details"]["outcome"] for e in log.entries()]
    assert outcomes == ["refused", "refused"]


def test_non_encrypted_and_unknown_columns_are_refused(
    keyring: KeyRing, log: AuditLog, contracts: ContractSet
) -> None:
    with pytest.raises(ReidentificationRefused, match=r"not encrypted .*keep"):
        reidentify(
            keyring,
            log,
            table="customer_profiles",
            column="gender",
            token="e1:AAAA",
            actor="alice",
            reason="r",
            contracts=contracts,
        )
    with pytest.raises(ReidentificationRefused, match="no column 'shoe_size'"):
        reidentify(
            keyring,
            log,
            table="customer_profiles",
            column="shoe_size",
            token="e1:AAAA",
            actor="alice",
            reason="r",
            contracts=contracts,
        )
    assert [e["details"]["error"] for e in log.entries()] == ["ReidentificationRefused"] * 2


def test_failed_decryption_is_audited(keyring: KeyRing, log: AuditLog) -> None:
    token = _token(keyring, "email")
    with pytest.raises(DecryptionError) as info:
        reidentify(
            keyring,
            log,
            table="customer_profiles",
            column="phone",
            token=token,
            actor="alice",
            reason="wrong column",
        )
    assert EMAIL not in str(info.value)
    (entry,) = log.entries()
    assert entry["details"]["outcome"] == "failed"
    assert entry["details"]["error"] == "DecryptionError"
    assert EMAIL not in log.path.read_text()


def test_value_is_not_returned_if_the_audit_write_fails(keyring: KeyRing, tmp_path: Path) -> None:
    class BrokenLog(AuditLog):
        def append(self, **kwargs: Any) -> dict[str, Any]:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        reidentify(
            keyring,
            BrokenLog(tmp_path / "a.jsonl"),
            table="customer_profiles",
            column="email",
            token=_token(keyring),
            actor="alice",
            reason="r",
        )


def test_quarantined_values_read_back_under_their_own_context_only(
    keyring: KeyRing, log: AuditLog, contracts: ContractSet
) -> None:
    from pipelines.protection.encrypt import quarantine_context

    held = Encryptor(keyring).encrypt(EMAIL, quarantine_context("customer_profiles", "email"))
    malformed = Encryptor(keyring).encrypt(f"u1,{EMAIL}", "customer_profiles._malformed_record")

    def read(column: str, token: str) -> str:
        return reidentify(
            keyring,
            log,
            table="customer_profiles",
            column=column,
            token=token,
            actor="ops",
            reason="quarantine review",
            contracts=contracts,
        )

    assert read("_quarantine.email", held) == EMAIL
    assert read("_malformed_record", malformed) == f"u1,{EMAIL}"
    with pytest.raises(DecryptionError):  # not a lake ciphertext: the context differs
        read("email", held)
    assert [e["details"]["outcome"] for e in log.entries()] == ["success", "success", "failed"]
    assert EMAIL not in log.path.read_text()
