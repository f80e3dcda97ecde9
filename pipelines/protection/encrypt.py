"""Deterministic authenticated encryption of direct identifiers (AES-256-SIV).

``encrypt(v, context) = "<key id>:" + base64url(AES-SIV(key, utf8(v), ad))`` without padding,
e.g. ``e1:pQ0...``. AES-SIV is deterministic (same value, key and context give the same
ciphertext), so re-running ingestion writes byte-identical output, and it is authenticated:
the associated data binds a format tag, the key id and the *context* (``"<table>.<column>"``,
see :func:`encryption_context`), so a ciphertext edited, moved to another column or decrypted
with another key ring fails with :class:`DecryptionError`.

Determinism means equal clear values have equal ciphertexts within a column (needed for
reproducible output; it reveals equality, as the pseudonymization tokens do anyway).

Encryption keys rotate freely: old versions stay in the key ring, and :meth:`reencrypt` moves
a ciphertext to the active key. There is deliberately no SQL decryption function: clear values
come back only through audited re-identification (:mod:`pipelines.protection.reidentify`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from pipelines.protection.errors import DecryptionError
from pipelines.protection.keys import KeyRing, safe_id

if TYPE_CHECKING:
    import duckdb

_AD_TAG = b"pipelines/aes-siv/v1\x00"
_B64_TO_URL = bytes.maketrans(b"+/", b"-_")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def encryption_context(table: str, column: str) -> str:
    """The associated-data context for a column: ``"<table>.<column>"`` (source column name)."""
    return f"{table}.{column}"


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_B64_TO_URL).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes | None:
    """Strict, canonical base64url without padding; ``None`` if ``text`` is not exactly that."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64encode(data) == text else None  # unused trailing bits must be zero


class Encryptor:
    """Encrypts with the active encryption key; decrypts with any key version in the ring."""

    def __init__(self, keyring: KeyRing):
        self._keys = keyring.encryption
        self.key_id = self._keys.active_id
        self._sivs: dict[str, AESSIV] = {}

    def _siv(self, key_id: str) -> AESSIV:
        siv = self._sivs.get(key_id)
        if siv is None:
            siv = self._sivs[key_id] = AESSIV(self._keys.get(key_id).secret)
        return siv

    @staticmethod
    def _ad(key_id: str, context: str) -> list[bytes]:
        """One associated-data item (fastest): tag NUL key id NUL context.

        Unambiguous because neither the tag nor a key id contains NUL.
        """
        if not isinstance(context, str) or not context:
            raise ValueError("an encryption context (e.g. 'customer_profiles.email') is required")
        return [_AD_TAG + key_id.encode("ascii") + b"\x00" + context.encode("utf-8")]

    def encrypt(self, value: str, context: str) -> str:
        if not isinstance(value, str):
            raise TypeError(f"encrypt() takes str, not {type(value).__name__}")
        ciphertext = self._siv(self.key_id).encrypt(
            value.encode("utf-8"), self._ad(self.key_id, context)
        )
        return f"{self.key_id}:{_b64encode(ciphertext)}"

    def encrypt_many(self, values: Sequence[str | None], context: str) -> list[str | None]:
        """:meth:`encrypt` for many values of one context; ``None`` stays ``None``."""
        encrypt = self._siv(self.key_id).encrypt
        ad = self._ad(self.key_id, context)
        prefix = f"{self.key_id}:".encode("ascii")
        b2a, table = binascii.b2a_base64, _B64_TO_URL
        out: list[str | None] = []
        append = out.append
        for value in values:
            if value is None:
                append(None)
            else:
                ciphertext = encrypt(value.encode("utf-8"), ad)
                append(
                    (prefix + b2a(ciphertext, newline=False).translate(table).rstrip(b"=")).decode()
                )
        return out

    def decrypt(self, token: str, context: str) -> str:
        """The clear value of ``token``; :class:`DecryptionError` if it does not authenticate."""
        key_id, sep, body = token.partition(":") if isinstance(token, str) else ("", "", "")
        where = f"cannot decrypt a value for context {context!r}"
        if not sep or not key_id:
            raise DecryptionError(f"{where}: not an encrypted token (<key id>:<base64url>)")
        if key_id not in self._keys:
            raise DecryptionError(
                f"{where}: encryption key id {safe_id(key_id)} is not in the key ring "
                f"(known: {', '.join(self._keys.keys)})"
            )
        ciphertext = _b64decode(body)
        if ciphertext is None:
            raise DecryptionError(f"{where}: the ciphertext is not canonical base64url")
        ad = self._ad(key_id, context)
        try:
            clear = self._siv(key_id).decrypt(ciphertext, ad)
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"{where} with key {key_id!r}: authentication failed "
                "(tampered ciphertext, wrong key ring or wrong context)"
            ) from None
        return clear.decode("utf-8")

    def reencrypt(self, token: str, context: str) -> str:
        """``token`` re-encrypted under the active key (unchanged if already active)."""
        return self.encrypt(self.decrypt(token, context), context)

    def __repr__(self) -> str:
        return f"Encryptor(key_id={self.key_id!r})"

    def __reduce__(self) -> Any:
        raise TypeError("Encryptor cannot be pickled")


def register_duckdb_udf(
    con: duckdb.DuckDBPyConnection, encryptor: Encryptor, name: str = "pipelines_encrypt"
) -> str:
    """Register ``<name>(value VARCHAR, context VARCHAR) -> VARCHAR``; returns the name.

    A vectorised (Arrow) Python UDF: ``pipelines_encrypt(email, 'customer_profiles.email')``.
    NULL values stay NULL; a NULL or empty context is an error.
    """
    from duckdb.func import FunctionNullHandling, PythonUDFType

    def udf(values: Any, contexts: Any) -> Any:  # pa.Array in and out
        import pyarrow as pa
        import pyarrow.compute as pc

        distinct = pc.unique(contexts).to_pylist()
        if len(distinct) == 1:
            context = distinct[0]
            if context is None:
                raise ValueError("pipelines_encrypt: context must not be NULL")
            out = encryptor.encrypt_many(values.to_pylist(), context)
        else:
            out = [
                None if v is None else encryptor.encrypt(v, c)
                for v, c in zip(values.to_pylist(), contexts.to_pylist(), strict=True)
            ]
        return pa.array(out, type=pa.string())

    con.create_function(
        name,
        udf,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )
    return name
