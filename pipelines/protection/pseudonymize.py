"""Pseudonymization: keyed, join-stable HMAC-SHA256 tokens.

``token(v) = "<key id>:" + first 32 hex digits of HMAC-SHA256(key, utf8(v))``, e.g.
``p1:9f86d081884c7d659a2feaa0c55ad015``. The same value under the same key gives the same
token in every table, so joins on pseudonymized keys keep working.

Two identical implementations:

* :meth:`Pseudonymizer.sql_token` - a DuckDB SQL expression (vectorised, multi-threaded, no
  Python per row). The key enters only as two prepared parameters (the HMAC inner and outer
  pad blocks), never as SQL text. This is the default for ingestion.
* :meth:`Pseudonymizer.token` / :meth:`tokens` in Python (precomputed HMAC pad states), and
  :func:`register_duckdb_udf` wrapping it as a DuckDB function, as a fallback.

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

TOKEN_HEX_DIGITS = 32
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


def _pads(key: bytes) -> tuple[bytes, bytes]:
    block = key.ljust(_BLOCK, b"\x00")  # keys are 32 bytes, never longer than a block
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


class Pseudonymizer:
    """Makes tokens with the active pseudonymization key (or ``key_id`` if given)."""

    def __init__(self, keyring: KeyRing, key_id: str | None = None):
        keyset = keyring.pseudonymization
        key: KeyMaterial = keyset.get(key_id) if key_id else keyset.active
        self.key_id = key.id
        self.fingerprint = key.fingerprint()
        self._prefix = f"{key.id}:"
        ipad, opad = _pads(key.secret)
        self._inner = hashlib.sha256(ipad)
        self._outer = hashlib.sha256(opad)
        self._ipad, self._opad = ipad, opad

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


def register_duckdb_udf(
    con: duckdb.DuckDBPyConnection,
    pseudonymizer: Pseudonymizer,
    name: str = "pipelines_pseudonymize",
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
