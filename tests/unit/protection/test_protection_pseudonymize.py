from __future__ import annotations

import hashlib
import hmac
import random
import re

import duckdb
import pyarrow as pa
import pytest

from pipelines.protection import KeyRing, Pseudonymizer, key_id_of, register_pseudonymize_udf


def _random_strings(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyz0123456789 -_.@",
        "áéíóúãõçÁÉÍÓÚÃÕÇ ",
        "\x00\t\n\r'\"\\%$",
        "日本語中文한국어Ελληνικάкириллица",
        "😀🎉👩‍👩‍👧\u0301\u200d\ufeff",
    ]
    out = ["", " ", "a", "'; drop table t; --"]
    while len(out) < n:
        length = rng.randint(0, 40)
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(length)))
    out += ["".join(chr(rng.randint(0x20, 0xD7FF)) for _ in range(30)) for _ in range(50)]
    out.append("x" * 1000)
    return out


def test_token_format_and_reference_hmac(keyring: KeyRing) -> None:
    p = Pseudonymizer(keyring)
    token = p.token("hello")
    assert re.fullmatch(r"p1:[0-9a-f]{32}", token)
    # The HMAC key is the secret's 64 hex digits (token scheme hmac-sha256-hexkey).
    key = keyring.pseudonymization.active.secret.hex().encode("ascii")
    assert token == "p1:" + hmac.new(key, b"hello", hashlib.sha256).hexdigest()[:32]
    assert key_id_of(token) == "p1"
    with pytest.raises(ValueError, match="not a pseudonymization token"):
        key_id_of("hello")


def test_tokens_are_stable_and_key_dependent(keyring: KeyRing) -> None:
    a, b = Pseudonymizer(keyring), Pseudonymizer(keyring)
    other = Pseudonymizer(KeyRing.generate())
    values = _random_strings(200)
    assert [a.token(v) for v in values] == [b.token(v) for v in values]
    assert all(a.token(v) != other.token(v) for v in values)
    assert len({a.token(v) for v in set(values)}) == len(set(values))
    assert a.tokens([*values, None]) == [*(a.token(v) for v in values), None]


def test_explicit_key_version_after_rotation(keyring: KeyRing) -> None:
    rotated = keyring.rotated("pseudonymization")
    new, old = Pseudonymizer(rotated), Pseudonymizer(rotated, key_id="p1")
    assert new.token("x").startswith("p2:")
    assert old.token("x") == Pseudonymizer(keyring).token("x")
    assert new.fingerprint != old.fingerprint


def test_sql_token_matches_python(keyring: KeyRing, con: duckdb.DuckDBPyConnection) -> None:
    p = Pseudonymizer(keyring)
    values: list[str | None] = [*_random_strings(3000), None]
    table = pa.table({"id": pa.array(range(len(values))), "v": pa.array(values, pa.string())})
    con.register("src", table)
    expr, params = p.sql_token("v", "ps")
    rows = con.execute(f"SELECT {expr} FROM src ORDER BY id", params).fetchall()
    assert [r[0] for r in rows] == p.tokens(values)


def test_sql_token_keeps_key_out_of_sql_text(keyring: KeyRing) -> None:
    expr, params = Pseudonymizer(keyring).sql_token("customer_id", "pseudo")
    assert set(params) == {"pseudo_ipad", "pseudo_opad"}
    assert "$pseudo_ipad" in expr and "$pseudo_opad" in expr
    secret = keyring.pseudonymization.active.secret
    for blob in (secret, *params.values()):
        assert blob.hex() not in expr.lower()
    with pytest.raises(ValueError, match="param_prefix"):
        Pseudonymizer(keyring).sql_token("v", "bad prefix; --")


def test_sql_token_casts_non_varchar(keyring: KeyRing, con: duckdb.DuckDBPyConnection) -> None:
    p = Pseudonymizer(keyring)
    expr, params = p.sql_token("42", "p")
    assert con.execute(f"SELECT {expr}", params).fetchone() == (p.token("42"),)


def test_udf_fallback_matches(keyring: KeyRing, con: duckdb.DuckDBPyConnection) -> None:
    p = Pseudonymizer(keyring)
    values: list[str | None] = [*_random_strings(500), None]
    con.register("src", pa.table({"v": pa.array(values, pa.string())}))
    name = register_pseudonymize_udf(con, p)
    got = [r[0] for r in con.execute(f"SELECT {name}(v) FROM src").fetchall()]
    assert got == p.tokens(values)


def test_token_rejects_non_strings(keyring: KeyRing) -> None:
    with pytest.raises(TypeError, match="int"):
        Pseudonymizer(keyring).token(12345)  # type: ignore[arg-type]
    assert "p1" in repr(Pseudonymizer(keyring))


def test_tokens_arrow_match_python_tokens(keyring: KeyRing) -> None:
    p = Pseudonymizer(keyring)
    values: list[str | None] = [*_random_strings(3000), None, "y" * 200, None]
    assert p.tokens_arrow(pa.array(values, pa.string())).to_pylist() == p.tokens(values)


def test_tokens_arrow_take_slices_chunks_and_other_key_versions(keyring: KeyRing) -> None:
    rotated = keyring.rotated("pseudonymization")
    values: list[str | None] = [*_random_strings(400, seed=3), None]
    array = pa.array(values, pa.large_string())
    for p in (Pseudonymizer(rotated), Pseudonymizer(rotated, key_id="p1")):
        chunked = pa.chunked_array([array.slice(0, 11), array.slice(11)])
        assert p.tokens_arrow(chunked).to_pylist() == p.tokens(values)
        assert p.tokens_arrow(array.slice(20, 30)).to_pylist() == p.tokens(values[20:50])
    assert Pseudonymizer(rotated).tokens_arrow(array)[0].as_py().startswith("p2:")
    assert Pseudonymizer(keyring).tokens_arrow(pa.array([], pa.string())).to_pylist() == []
    assert Pseudonymizer(keyring).tokens_arrow(pa.array([None], pa.string())).to_pylist() == [None]
