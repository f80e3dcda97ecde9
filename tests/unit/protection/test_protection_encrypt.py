from __future__ import annotations

import re

import duckdb
import pyarrow as pa
import pytest

from pipelines.protection import (
    DecryptionError,
    Encryptor,
    KeyRing,
    encryption_context,
    register_encrypt_udf,
)

CTX = encryption_context("customer_profiles", "email")
SECRET = "maria.souza@example.com.br"


def test_roundtrip_deterministic_and_format(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    token = enc.encrypt(SECRET, CTX)
    assert re.fullmatch(r"e1:[A-Za-z0-9_-]+", token)
    assert SECRET not in token
    assert token == Encryptor(keyring).encrypt(SECRET, CTX)
    assert enc.decrypt(token, CTX) == SECRET
    for value in ["", "ç", "😀 multi\nline", "x" * 5000]:
        assert enc.decrypt(enc.encrypt(value, CTX), CTX) == value


def test_context_changes_ciphertext(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    assert enc.encrypt(SECRET, CTX) != enc.encrypt(SECRET, "customer_profiles.phone")


def _assert_clean(error: pytest.ExceptionInfo[DecryptionError], token: str) -> None:
    message = str(error.value)
    assert SECRET not in message and "maria" not in message
    assert token.partition(":")[2] not in message
    assert error.value.__cause__ is None


def test_tampered_ciphertext_fails(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    token = enc.encrypt(SECRET, CTX)
    body_start = token.index(":") + 1
    for i in range(body_start, len(token)):
        flipped = "A" if token[i] != "A" else "B"
        bad = token[:i] + flipped + token[i + 1 :]
        with pytest.raises(DecryptionError) as info:
            enc.decrypt(bad, CTX)
        _assert_clean(info, token)
    for bad in (token + "A", token[:-1], token + "=", token.replace(":", ";"), "e1:", ""):
        with pytest.raises(DecryptionError):
            enc.decrypt(bad, CTX)


def test_wrong_context_fails(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    token = enc.encrypt(SECRET, CTX)
    with pytest.raises(DecryptionError, match=r"customer_profiles\.phone") as info:
        enc.decrypt(token, "customer_profiles.phone")
    _assert_clean(info, token)


def test_wrong_key_ring_fails(keyring: KeyRing) -> None:
    token = Encryptor(keyring).encrypt(SECRET, CTX)
    with pytest.raises(DecryptionError, match="authentication failed") as info:
        Encryptor(KeyRing.generate()).decrypt(token, CTX)
    _assert_clean(info, token)


def test_unknown_key_id_fails(keyring: KeyRing) -> None:
    token = Encryptor(keyring.rotated("encryption")).encrypt(SECRET, CTX)
    assert token.startswith("e2:")
    with pytest.raises(DecryptionError, match="'e2' is not in the key ring") as info:
        Encryptor(keyring).decrypt(token, CTX)
    _assert_clean(info, token)


def test_key_id_is_authenticated(keyring: KeyRing) -> None:
    rotated = keyring.rotated("encryption")
    token = Encryptor(keyring).encrypt(SECRET, CTX)
    with pytest.raises(DecryptionError):
        Encryptor(rotated).decrypt("e2:" + token.partition(":")[2], CTX)


def test_rotation_keeps_old_ciphertexts_and_reencrypts(keyring: KeyRing) -> None:
    old_token = Encryptor(keyring).encrypt(SECRET, CTX)
    rotated = keyring.rotated("encryption")
    enc = Encryptor(rotated)
    assert enc.key_id == "e2"
    assert enc.decrypt(old_token, CTX) == SECRET
    new_token = enc.reencrypt(old_token, CTX)
    assert new_token.startswith("e2:") and new_token == enc.encrypt(SECRET, CTX)
    assert enc.reencrypt(new_token, CTX) == new_token
    with pytest.raises(DecryptionError):
        Encryptor(keyring).decrypt(new_token, CTX)


def test_encrypt_many_matches_encrypt(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    values = [SECRET, None, "", "ação", SECRET]
    out = enc.encrypt_many(values, CTX)
    assert out == [None if v is None else enc.encrypt(v, CTX) for v in values]
    assert out[0] == out[4]
    with pytest.raises(ValueError, match="context"):
        enc.encrypt_many(values, "")


def test_duckdb_udf(keyring: KeyRing, con: duckdb.DuckDBPyConnection) -> None:
    enc = Encryptor(keyring)
    values = [f"user{i}@example.com" if i % 7 else None for i in range(3000)]
    con.register("src", pa.table({"id": range(len(values)), "v": pa.array(values, pa.string())}))
    name = register_encrypt_udf(con, enc)
    assert name == "pipelines_encrypt"
    rows = con.execute(f"SELECT {name}(v, '{CTX}') FROM src ORDER BY id").fetchall()
    assert [r[0] for r in rows] == enc.encrypt_many(values, CTX)
    mixed = con.execute(
        f"SELECT v, {name}(v, CASE WHEN id % 2 = 0 THEN 'a.x' ELSE 'b.y' END), id FROM src "
        "WHERE id < 50 ORDER BY id"
    ).fetchall()
    for value, token, i in mixed:
        context = "a.x" if i % 2 == 0 else "b.y"
        assert token == (None if value is None else enc.encrypt(value, context))


def test_udf_rejects_null_context(keyring: KeyRing, con: duckdb.DuckDBPyConnection) -> None:
    register_encrypt_udf(con, Encryptor(keyring))
    with pytest.raises(duckdb.Error, match="context must not be NULL"):
        con.execute("SELECT pipelines_encrypt('a', NULL::VARCHAR)").fetchall()
