from __future__ import annotations

import base64
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.contracts import ContractSet
from pipelines.protection import (
    DecryptionError,
    Encryptor,
    KeyRing,
    encryption_context,
    register_encrypt_udf,
)
from pipelines.protection.encrypt import quarantine_context

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


def _mixed_values(seed: int = 5) -> list[str | None]:
    """Every length around the AES block size, multi-byte text, NULLs and a long value."""
    import random

    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789@.-_ +áçõ日本😀\x00\n'\""
    values: list[str | None] = ["", " ", "ç", SECRET, None]
    values += ["x" * n for n in range(1, 80)]
    values += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70))) for _ in range(3000)
    ]
    values += [None, "y" * 5000]
    return values


def test_encrypt_arrow_matches_encrypt_value_for_value(keyring: KeyRing) -> None:
    enc = Encryptor(keyring)
    values = _mixed_values()
    tokens = enc.encrypt_arrow(pa.array(values, pa.string()), CTX).to_pylist()
    assert tokens == enc.encrypt_many(values, CTX)
    for token, value in zip(tokens[:200], values[:200], strict=True):
        assert (token is None) == (value is None)
        if value is not None:
            assert enc.decrypt(token, CTX) == value


def test_encrypt_arrow_takes_slices_chunks_and_binds_the_context(keyring: KeyRing) -> None:
    enc = Encryptor(keyring.rotated("encryption"))
    values = _mixed_values(seed=9)[:500]
    array = pa.array(values, pa.large_string())
    chunked = pa.chunked_array([array.slice(0, 17), array.slice(17)])
    assert enc.encrypt_arrow(chunked, CTX).to_pylist() == enc.encrypt_many(values, CTX)
    assert enc.encrypt_arrow(array.slice(33, 50), CTX).to_pylist() == enc.encrypt_many(
        values[33:83], CTX
    )
    other = "customer_profiles.phone"
    assert enc.encrypt_arrow(array, other).to_pylist() == enc.encrypt_many(values, other)
    assert enc.encrypt_arrow(pa.array([], pa.string()), CTX).to_pylist() == []
    assert enc.encrypt_arrow(pa.array([None, None], pa.string()), CTX).to_pylist() == [None] * 2
    with pytest.raises(ValueError, match="context"):
        enc.encrypt_arrow(array, "")


def test_array_siv_gives_the_rfc_5297_test_vector() -> None:
    from pipelines.protection.encrypt import _ArraySiv

    key = bytes.fromhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    ad = bytes.fromhex("101112131415161718191a1b1c1d1e1f2021222324252627")
    plaintext = bytes.fromhex("112233445566778899aabbccddee")
    sealed = _ArraySiv(key, ad).seal(pa.array([plaintext], pa.large_binary()))
    assert sealed.to_pylist() == [
        bytes.fromhex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
    ]


# Finding 8: every ciphertext is a standard AES-SIV one ----------------------------------------


@st.composite
def _plaintexts(draw: st.DrawFn) -> list[bytes]:
    """1-8 values, lengths 0-4,096 bytes, block boundaries drawn often."""
    edges = st.sampled_from([0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 4095, 4096])
    lengths = draw(st.lists(st.one_of(edges, st.integers(0, 4096)), min_size=1, max_size=8))
    return [draw(st.binary(min_size=n, max_size=n)) for n in lengths]


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(min_size=64, max_size=64),
    ad=st.binary(max_size=300),
    values=_plaintexts(),
)
def test_array_siv_equals_the_library_aessiv(key: bytes, ad: bytes, values: list[bytes]) -> None:
    """Differential fuzz: the vectorised construction against cryptography's AESSIV."""
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    from pipelines.protection.encrypt import _ArraySiv

    sealed = _ArraySiv(key, ad).seal(pa.array(values, pa.large_binary())).to_pylist()
    library = AESSIV(key)
    assert sealed == [library.encrypt(v, [ad]) for v in values]
    assert [library.decrypt(s, [ad]) for s in sealed] == values


def test_every_ciphertext_of_a_generated_lake_decrypts_with_the_library_aessiv(
    tmp_path: Path, keyring: KeyRing, contracts: ContractSet
) -> None:
    """Ingest a small generated landing tree (with injected defects, so quarantine holds
    protected records and encrypted malformed lines), then open every ciphertext in every
    Parquet file of the lake with ``cryptography``'s ``AESSIV`` directly."""
    import json
    from datetime import date

    import pyarrow.parquet as pq
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

    from pipelines.generate import generate
    from pipelines.ingest import ingest_table
    from tests.factories import whole_landing_run

    landing = tmp_path / "landing"
    generate(landing, orders=60, seed=3, start=date(2018, 1, 1), days=2, defects="all",
             defect_count=2)  # fmt: skip
    settings, interval = whole_landing_run(landing, tmp_path / "data")
    for table in contracts.load_order():
        ingest_table(table, interval, settings, keyring=keyring, contracts=contracts)

    pattern = re.compile(r"^(e[0-9]+):([A-Za-z0-9_-]+)$")

    def open_with_library(value: str, context: str) -> str:
        key_id, body = pattern.fullmatch(value).groups()  # type: ignore[union-attr]
        ad = b"pipelines/aes-siv/v1\x00" + key_id.encode() + b"\x00" + context.encode()
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESSIV(keyring.encryption.get(key_id).secret).decrypt(raw, [ad]).decode()

    opened: dict[str, int] = {}
    for path in sorted(settings.lake.rglob("*.parquet")):
        contract = contracts[path.relative_to(settings.lake).parts[0]]
        encrypted = {
            c.lake_name: encryption_context(contract.table, c.name)
            for c in contract.written_columns
            if c.protection.value == "encrypt"
        }
        # quarantine records hold every non-PII value encrypted under its quarantine context
        held = {
            c.lake_name: quarantine_context(contract.table, c.name)
            for c in contract.written_columns
            if c.pii.value == "none"
        }
        cells: list[tuple[str, object, bool]] = []
        for row in pq.read_table(path).to_pylist():
            cells += [(name, value, False) for name, value in row.items() if name != "record"]
            record = json.loads(row["record"]) if row.get("record") else {}
            cells += [(name, value, True) for name, value in record.items()]
        for name, value, in_record in cells:
            if not isinstance(value, str) or not pattern.fullmatch(value):
                continue
            context = (
                encrypted.get(name)
                or (held.get(name) if in_record else None)
                or (f"{contract.table}._malformed_record" if name == "encrypted_record" else None)
            )
            assert context is not None, f"{path}: {name} holds a ciphertext of no known column"
            open_with_library(value, context)
            kind = (
                "malformed"
                if name == "encrypted_record"
                else "quarantined"
                if name in held
                else "column"
            )
            opened[kind] = opened.get(kind, 0) + 1
    assert opened.get("column", 0) >= 100 and opened.get("malformed", 0) >= 1, opened
    assert opened.get("quarantined", 0) >= 1, opened
