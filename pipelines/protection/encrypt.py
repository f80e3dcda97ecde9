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

Ingestion encrypts whole Arrow arrays with :meth:`Encryptor.encrypt_arrow`: the same AES-SIV
construction written as array operations around the AES block cipher (``cryptography``'s
AES-ECB over many independent blocks at once), because one ``AESSIV.encrypt`` call per value
costs several microseconds and holds the GIL. It is tested to give byte-identical
ciphertexts to :meth:`Encryptor.encrypt`; decryption always uses ``AESSIV``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from pipelines.protection.errors import DecryptionError
from pipelines.protection.keys import KeyRing, safe_id

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa

_AD_TAG = b"pipelines/aes-siv/v1\x00"
_B64_TO_URL = bytes.maketrans(b"+/", b"-_")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def encryption_context(table: str, column: str) -> str:
    """The associated-data context for a column: ``"<table>.<column>"`` (source column name)."""
    return f"{table}.{column}"


QUARANTINE_PREFIX = "_quarantine."
"""Quarantined values of ``table.column`` are encrypted under ``<table>._quarantine.<column>``."""
MALFORMED_RECORD = "_malformed_record"
"""The text of a malformed record is encrypted under ``<table>._malformed_record``."""


def quarantine_context(table: str, column: str) -> str:
    """The context of ``table.column`` values held (encrypted) by the quarantine; never that of
    the lake column, so neither ciphertext passes for the other."""
    return encryption_context(table, QUARANTINE_PREFIX + column)


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

    def encrypt_arrow(self, values: pa.Array | pa.ChunkedArray, context: str) -> pa.Array:
        """:meth:`encrypt_many` for an Arrow string array, vectorised; NULL stays NULL."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        ad = self._ad(self.key_id, context)[0]
        clear = values.cast(pa.large_binary()).fill_null(b"")
        sealed = _ArraySiv(self._keys.get(self.key_id).secret, ad).seal(clear)
        body = _b64url_arrow(sealed)
        prefix, nothing = pa.scalar(f"{self.key_id}:", body.type), pa.scalar("", body.type)
        tokens = pc.binary_join_element_wise(prefix, body, nothing)
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.large_string()), tokens)

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


def _b64url_arrow(data: pa.Array) -> pa.Array:
    """Unpadded base64url of every value of a binary array, as :func:`_b64encode`."""
    import polars as pl

    encoded = pl.col("v").bin.encode("base64")
    url = encoded.str.replace_many(["+", "/"], ["-", "_"]).str.strip_chars_end("=")
    text = pl.LazyFrame({"v": data}).select(url).collect()["v"]
    return text.to_arrow(compat_level=pl.CompatLevel.oldest())


class _ArraySiv:
    """AES-SIV (RFC 5297) with one associated-data item, over arrays of values.

    ``S2V``, ``CMAC`` and ``CTR`` are the RFC's, computed for many values at once: values are
    grouped by their number of 16-byte blocks, so every step is one AES-ECB call over the
    same block position of all values in a group (``cryptography``'s AES, never our own).
    The output of :meth:`seal` is what ``AESSIV(key).encrypt(value, [ad])`` returns.
    """

    def __init__(self, key: bytes, ad: bytes):
        import numpy as np

        half = len(key) // 2
        self._mac = _ecb(key[:half])  # K1: S2V/CMAC
        self._ctr = _ecb(key[half:])  # K2: CTR
        zero = np.zeros(16, np.uint8)
        self._k1 = _dbl(self._mac(zero[None])[0])  # CMAC subkeys
        self._k2 = _dbl(self._k1)
        d = _dbl(self._cmac(bytes(16))) ^ self._cmac(ad)  # S2V up to the last string
        self._d, self._dbl_d = d, _dbl(d)

    def _cmac(self, message: bytes) -> np.ndarray:
        """CMAC of one message (the constant strings of S2V)."""
        import numpy as np

        blocks = max(1, -(-len(message) // 16))
        buf = np.zeros(blocks * 16, np.uint8)
        buf[: len(message)] = np.frombuffer(message, np.uint8)
        if message and len(message) % 16 == 0:
            buf[-16:] ^= self._k1
        else:
            buf[len(message)] = 0x80
            buf[-16:] ^= self._k2
        x = np.zeros(16, np.uint8)
        for j in range(blocks):
            x = self._mac((x ^ buf[16 * j : 16 * j + 16])[None])[0]
        return x

    def _last_string_masks(self, blocks: int) -> np.ndarray:
        """What S2V XORs into a plaintext of ``blocks`` blocks, per length, before CMAC.

        Row ``i`` is for length ``16 * (blocks - 1) + i`` (``i`` from 0, lengths 0..16 when
        ``blocks`` is 1): ``D`` XORed onto the last 16 bytes ("xorend"), or ``dbl(D)`` for a
        value shorter than a block; the ``10*`` padding of an incomplete block; and the CMAC
        subkey of the last block (K2 when it was padded, else K1).
        """
        import numpy as np

        width = 16 * blocks
        first = 16 * (blocks - 1)
        masks = np.zeros((17, width), np.uint8)
        for i, length in enumerate(range(first, width + 1)):
            row = masks[i]
            if length >= 16:
                row[length - 16 : length] ^= self._d
            else:
                row[:16] ^= self._dbl_d
            padded = length < 16 or length % 16 != 0
            if padded:
                row[length] ^= 0x80
            row[-16:] ^= self._k2 if length >= 16 and padded else self._k1
        return masks

    def _seal_group(self, plain: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """SIV || ciphertext, zero-padded, for values of equal block count (``plain``: m x 16k)."""
        import numpy as np

        m, width = plain.shape
        blocks = width // 16
        t = plain ^ self._last_string_masks(blocks)[lengths - 16 * (blocks - 1)]
        siv = np.zeros((m, 16), np.uint8)
        for j in range(blocks):  # CMAC (the subkey is already in the last block)
            siv = self._mac(siv ^ t[:, 16 * j : 16 * j + 16])
        counters = np.empty((m, blocks, 16), np.uint8)
        counters[:] = siv[:, None, :]
        counters[:, :, 8] &= 0x7F  # RFC 5297 2.6: clear bits 63 and 31 of the counter, so
        counters[:, :, 12] &= 0x7F  # that adding the block number below cannot carry out
        if blocks > 1:
            counters[:, :, 12:].view(">u4")[..., 0] += np.arange(blocks, dtype=np.uint32)
        sealed = np.empty((m, 16 + width), np.uint8)
        sealed[:, :16] = siv
        keystream = self._ctr(counters.reshape(m * blocks, 16)).reshape(m, width)
        np.bitwise_xor(plain, keystream, out=sealed[:, 16:])
        return sealed

    def seal(self, values: pa.Array) -> pa.Array:
        """AES-SIV of every value of a ``large_binary`` array without nulls."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        nothing = pa.scalar(b"", pa.large_binary())
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
        blocks = np.maximum(1, (lengths + 15) // 16)
        groups, parts = [], []
        for k in np.unique(blocks).tolist():
            rows = np.flatnonzero(blocks == k)
            width = 16 * k
            padded = pc.binary_slice(
                pc.binary_join_element_wise(
                    values.take(rows), pa.scalar(bytes(width), pa.large_binary()), nothing
                ),
                0,
                width,
            )
            plain = _fixed_to_numpy(padded.cast(pa.binary(width)), width)
            sealed = self._seal_group(plain, lengths[rows])
            out_len = 16 + lengths[rows]
            keep = np.arange(16 + width)[None, :] < out_len[:, None]
            offsets = np.zeros(len(rows) + 1, np.int64)
            np.cumsum(out_len, out=offsets[1:])
            parts.append(
                pa.Array.from_buffers(
                    pa.large_binary(),
                    len(rows),
                    [None, pa.py_buffer(offsets), pa.py_buffer(sealed[keep])],
                )
            )
            groups.append(rows)
        if not parts:
            return pa.array([], pa.large_binary())
        order = np.concatenate(groups)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return pa.concat_arrays(parts).take(pa.array(position))


def _ecb(key: bytes) -> Callable[[np.ndarray], np.ndarray]:
    """AES encryption of independent 16-byte blocks (rows of an ``n x 16`` uint8 array)."""
    import numpy as np
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

    def encrypt(blocks: np.ndarray) -> np.ndarray:
        data = encryptor.update(np.ascontiguousarray(blocks).tobytes())
        return np.frombuffer(data, np.uint8).reshape(blocks.shape)

    return encrypt


def _dbl(block: np.ndarray) -> np.ndarray:
    """RFC 5297 ``dbl``: multiplication by x in GF(2^128) of a 16-byte big-endian block."""
    import numpy as np

    wide = block.astype(np.uint16)
    out = (wide << 1) & 0xFF
    out[:-1] |= wide[1:] >> 7
    result = out.astype(np.uint8)
    if block[0] & 0x80:
        result[-1] ^= 0x87
    return result


def _fixed_to_numpy(values: pa.Array, width: int) -> np.ndarray:
    """The bytes of a ``fixed_size_binary(width)`` array without nulls, as ``n x width``."""
    import numpy as np

    data = np.frombuffer(values.buffers()[1], np.uint8)
    start = values.offset * width
    return data[start : start + len(values) * width].reshape(len(values), width)


ENCRYPT_UDF = "pipelines_encrypt"
"""The name ingestion and the gate register the encryption UDF under (quarantine records)."""


def register_duckdb_udf(
    con: duckdb.DuckDBPyConnection, encryptor: Encryptor, name: str = ENCRYPT_UDF
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
