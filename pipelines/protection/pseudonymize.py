"""Pseudonymization: keyed, join-stable HMAC-SHA256 tokens.

``token(v) = "<key id>:" + first 32 hex digits of HMAC-SHA256(k, utf8(v))``, e.g.
``p1:9f86d081884c7d659a2feaa0c55ad015``, where the HMAC key ``k`` is the key's 32 secret
bytes written as 64 lowercase hex digits (ASCII; :func:`hmac_key`). The same value under the
same key gives the same token in every table, so joins on pseudonymized keys keep working.

Why the hex form: the fast vectorised HMAC (polars-hash's Rust ``hmac_sha256``, about 0.25
microseconds of CPU per value) takes its key as text, which raw key bytes are not. The hex
form carries the same 256 bits, fills exactly one SHA-256 block (so it is not pre-hashed) and
is used by every implementation below. It is token scheme :data:`TOKEN_SCHEME`; manifests
record it, and ingestion refuses to mix partitions made with another scheme.

Identical implementations, tested to agree value for value:

* :meth:`Pseudonymizer.token` / :meth:`tokens` in Python (precomputed HMAC pad states), and
  :func:`register_duckdb_udf` wrapping it as a DuckDB function.
* :meth:`Pseudonymizer.tokens_arrow` - whole Arrow arrays at once, used by ingestion:
  polars-hash's ``hmac_sha256``, mostly outside the GIL.
* :meth:`Pseudonymizer.sql_token` - a DuckDB SQL expression. The key enters only as two
  prepared parameters (the pad blocks), never as SQL text. Several times slower than
  :meth:`tokens_arrow` (DuckDB's ``sha256`` and ``unhex`` per value).

Tokens are one-way. Rotating the pseudonymization key therefore means re-ingesting from
landing (the clear values are needed); the key id in every token makes a table with mixed
key versions detectable (:func:`key_id_of`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipelines.protection.keys import KeyMaterial, KeyRing

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import polars as pl
    import pyarrow as pa

TOKEN_HEX_DIGITS = 32
TOKEN_SCHEME = "hmac-sha256-hexkey"
"""How tokens are derived from a key: recorded in manifests; tokens of two schemes never join."""
_BLOCK = 64  # SHA-256 block size
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(r"^([A-Za-z0-9_.-]{1,32}):([0-9a-f]{32})$")


def key_id_of(token: str) -> str:
    """The key id a pseudonymization token was made with (``"p1"`` for ``"p1:9f86..."``)."""
    match = _TOKEN.match(token)
    if not match:
        raise ValueError("not a pseudonymization token (<key id>:<32 hex digits>)")
    return match.group(1)


def is_token(value: str) -> bool:
    return _TOKEN.match(value) is not None


def hmac_key(secret: bytes) -> bytes:
    """The HMAC key of a pseudonymization secret: its lowercase hex digits, as ASCII."""
    return secret.hex().encode("ascii")


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:  # RFC 2104 would hash it first; hmac_key() is exactly one block
        raise ValueError("HMAC keys longer than one SHA-256 block are not supported")
    block = key.ljust(_BLOCK, b"\x00")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


class Pseudonymizer:
    """Makes tokens with the active pseudonymization key (or ``key_id`` if given)."""

    def __init__(self, keyring: KeyRing, key_id: str | None = None):
        keyset = keyring.pseudonymization
        key: KeyMaterial = keyset.get(key_id) if key_id else keyset.active
        self.key_id = key.id
        self.fingerprint = key.fingerprint()
        self._prefix = f"{key.id}:"
        key_text = hmac_key(key.secret)
        ipad, opad = _pads(key_text)
        self._inner = hashlib.sha256(ipad)
        self._outer = hashlib.sha256(opad)
        self._ipad, self._opad = ipad, opad
        self._key_text = key_text.decode("ascii")  # for polars-hash, which takes a str

    def token(self, value: str) -> str:
        if not isinstance(value, str):
            raise TypeError(f"token() takes str, not {type(value).__name__}")
        inner = self._inner.copy()
        inner.update(value.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return self._prefix + outer.hexdigest()[:TOKEN_HEX_DIGITS]

    def tokens(self, values: Iterable[str | None]) -> list[str | None]:
        """Tokens for many values; ``None`` stays ``None``."""
        inner_copy, outer_copy, prefix = self._inner.copy, self._outer.copy, self._prefix
        out: list[str | None] = []
        append = out.append
        for value in values:
            if value is None:
                append(None)
                continue
            inner = inner_copy()
            inner.update(value.encode("utf-8"))
            outer = outer_copy()
            outer.update(inner.digest())
            append(prefix + outer.hexdigest()[:TOKEN_HEX_DIGITS])
        return out

    def tokens_arrow(self, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """:meth:`tokens` for an Arrow string array, vectorised; NULL stays NULL."""
        import numpy as np
        import polars as pl
        import polars_hash as plh
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        clear = values.cast(pa.large_string()).fill_null("")
        # Lazy: the eager path runs polars-hash about half as fast, holding the GIL.
        digests = (
            pl.LazyFrame({"v": clear})
            .select(plh.col("v").chash.hmac_sha256(key=self._key_text))
            .collect()["v"]
        )
        prefix = np.frombuffer(self._prefix.encode("ascii"), np.uint8)
        tokens = np.empty((len(clear), len(prefix) + TOKEN_HEX_DIGITS), np.uint8)
        tokens[:, : len(prefix)] = prefix
        tokens[:, len(prefix) :] = _hex_rows(digests)[:, :TOKEN_HEX_DIGITS]
        result = _fixed_width(tokens, pa.large_string())
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.large_string()), result)

    def sql_token(
        self, column_sql: str, param_prefix: str = "pseudo"
    ) -> tuple[str, dict[str, bytes]]:
        """A DuckDB expression computing :meth:`token` of ``column_sql`` (NULL stays NULL).

        Returns the expression and its prepared parameters (``$<prefix>_ipad``,
        ``$<prefix>_opad``: BLOBs derived from the key). Pass them to ``con.execute``; never
        format them into SQL. Non-VARCHAR columns are cast to VARCHAR first.
        """
        if not _PARAM.match(param_prefix):
            raise ValueError("param_prefix must be an SQL identifier (letters, digits, _)")
        ipad, opad = f"{param_prefix}_ipad", f"{param_prefix}_opad"
        inner = f"unhex(sha256(${ipad} || encode(CAST(({column_sql}) AS VARCHAR))))"
        expr = f"('{self._prefix}' || left(sha256(${opad} || {inner}), {TOKEN_HEX_DIGITS}))"
        return expr, {ipad: self._ipad, opad: self._opad}

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self.key_id!r})"

    def __reduce__(self) -> Any:
        raise TypeError("Pseudonymizer cannot be pickled")


def _hex_rows(digests: pl.Series) -> np.ndarray:
    """A polars string series of 64 hex digits per value, without nulls, as ``n x 64`` uint8."""
    import numpy as np
    import polars as pl

    text = digests.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string, one chunk
    start = np.frombuffer(text.buffers()[1], np.int64)[text.offset]
    chars = np.frombuffer(text.buffers()[2], np.uint8)
    return chars[start : start + 64 * len(text)].reshape(len(text), 64)


def _fixed_width(rows: np.ndarray, type_: pa.DataType) -> pa.Array:
    """An Arrow binary/string array whose values are the rows of an ``n x width`` uint8 array."""
    import numpy as np
    import pyarrow as pa

    n, width = rows.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(rows)
    return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


PSEUDONYMIZE_UDF = "pipelines_pseudonymize"
"""The name the pseudonymization UDF is registered under, and how SQL facets write a token."""


def register_duckdb_udf(
    con: duckdb.DuckDBPyConnection,
    pseudonymizer: Pseudonymizer,
    name: str = PSEUDONYMIZE_UDF,
) -> str:
    """Register ``<name>(value VARCHAR) -> VARCHAR`` (vectorised Python UDF); returns the name.

    Fallback for :meth:`Pseudonymizer.sql_token`, which is faster with more than one thread.
    """
    import pyarrow as pa
    from duckdb.func import FunctionNullHandling, PythonUDFType

    def udf(values: Any) -> Any:  # pa.Array; duckdb evaluates annotations at runtime
        return pa.array(pseudonymizer.tokens(values.to_pylist()), type=pa.string())

    con.create_function(
        name,
        udf,
        ["VARCHAR"],
        "VARCHAR",
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )
    return name
