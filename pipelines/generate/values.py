"""Vectorised value helpers: random ids, categorical sampling and rendering to text.

Every column the generator produces is an Arrow string array holding the exact text that
lands in the file (``None`` = empty field), so all output formats share one rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

DAY = 86_400
HOUR = 3_600
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def hex_ids(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint8]:
    """``n`` random 32-character lower-case hex ids as an ``(n, 32)`` array of ASCII bytes."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    out = np.empty((n, 32), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out


def fixed_text(chars: npt.NDArray[np.uint8]) -> pa.Array:
    """An ``(n, width)`` array of ASCII bytes as an Arrow string array, without copying."""
    chars = np.ascontiguousarray(chars)
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def draw(rng: np.random.Generator, shares: Mapping[Any, float], n: int) -> npt.NDArray[np.intp]:
    """Indices into ``list(shares)`` drawn with the given shares."""
    return draw_p(rng, np.fromiter(shares.values(), dtype=np.float64), n)


def draw_p(
    rng: np.random.Generator, weights: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.intp]:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(idx, len(weights) - 1)


def pick(words: Sequence[str | None], idx: npt.NDArray[np.integer[Any]]) -> pa.Array:
    """``words[idx]`` as an Arrow string array."""
    return pa.array(words, type=pa.string()).take(pa.array(idx))


def mask_out(values: pa.Array, missing: BoolArray | None) -> pa.Array:
    """``values`` with the positions where ``missing`` is true set to null."""
    if missing is None or not missing.any():
        return values
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), values)


def integers(values: npt.NDArray[np.integer[Any]], missing: BoolArray | None = None) -> pa.Array:
    arr = pa.array(values, mask=missing)
    return pc.cast(arr, pa.string())


def padded(values: npt.NDArray[np.integer[Any]], width: int) -> pa.Array:
    """Zero-padded decimal text (zip prefixes, phone digits)."""
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width=width, padding="0")


def timestamps(seconds: IntArray, missing: BoolArray | None = None) -> pa.Array:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS``."""
    arr = pa.array(seconds.astype("datetime64[s]"), mask=missing)
    return pc.cast(arr, pa.string())


def dates(days: IntArray, missing: BoolArray | None = None) -> pa.Array:
    """Epoch days as ``YYYY-MM-DD``."""
    arr = pa.array(days.astype("datetime64[D]"), mask=missing)
    return pc.cast(arr, pa.string())


def money(cents: IntArray) -> pa.Array:
    """Non-negative cents as Olist writes prices: ``144.0``, ``99.9``, ``21.99``."""
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = cents % 100
    two = padded(frac, 2)
    one = pc.cast(pa.array(frac // 10), pa.string())
    return pc.binary_join_element_wise(whole, pc.if_else(pa.array(frac % 10 == 0), one, two), ".")


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrays and literal strings (null if any part is null)."""
    return pc.binary_join_element_wise(*parts, "")


def midnight(seconds: IntArray) -> IntArray:
    return seconds - seconds % DAY
