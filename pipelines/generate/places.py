"""Brazilian geography for the generator: states, cities, zip prefixes and phone area codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipelines.generate import distributions as dist
from pipelines.generate.values import draw, padded, pick

STATES: list[str] = sorted(dist.CITIES)
_STATE_INDEX = {code: i for i, code in enumerate(STATES)}

_CITY_NAMES: list[str] = []
_CITY_LO: list[int] = []
_CITY_HI: list[int] = []
_CITY_KEY: list[float] = []  # state index + cumulative share of the city within its state
for _s, _code in enumerate(STATES):
    _rows = dist.CITIES[_code]
    _weights = np.array([row[1] for row in _rows], dtype=np.float64)
    _cum = np.cumsum(_weights) / _weights.sum()
    for (_name, _n, _lo, _hi), _c in zip(_rows, _cum, strict=True):
        _CITY_NAMES.append(_name)
        _CITY_LO.append(int(_lo))
        _CITY_HI.append(int(_hi))
        _CITY_KEY.append(_s + float(_c))
CITY_NAMES = _CITY_NAMES
_CITY_KEYS = np.array(_CITY_KEY)
_CITY_LO_A = np.array(_CITY_LO, dtype=np.int64)
_CITY_HI_A = np.array(_CITY_HI, dtype=np.int64)

_AREA_CODES = [dist.AREA_CODES[code] for code in STATES]
_AREA_FLAT = np.array([c for codes in _AREA_CODES for c in codes], dtype=np.int64)
_AREA_COUNT = np.array([len(codes) for codes in _AREA_CODES], dtype=np.int64)
_AREA_START = np.concatenate([[0], np.cumsum(_AREA_COUNT)[:-1]])
ALL_AREA_CODES = _AREA_FLAT

IntpArray = npt.NDArray[np.intp]


def state_indices(codes: Sequence[str]) -> IntpArray:
    """Positions of state codes in :data:`STATES`."""
    return np.array([_STATE_INDEX[c] for c in codes], dtype=np.intp)


def draw_states(rng: np.random.Generator, shares: dict[str, float], n: int) -> IntpArray:
    """State indices (into :data:`STATES`) drawn with ``shares``."""
    return state_indices(list(shares))[draw(rng, shares, n)]


def draw_cities(
    rng: np.random.Generator, states: IntpArray
) -> tuple[IntpArray, npt.NDArray[np.int64]]:
    """A city (index into :data:`CITY_NAMES`) and a zip prefix inside it, per state index."""
    u = rng.random(len(states))
    city = np.searchsorted(_CITY_KEYS, states + u, side="right").astype(np.intp)
    city = np.minimum(city, len(_CITY_KEYS) - 1)
    span = _CITY_HI_A[city] - _CITY_LO_A[city] + 1
    zips = _CITY_LO_A[city] + (rng.random(len(states)) * span).astype(np.int64)
    return city, zips


def area_codes(rng: np.random.Generator, states: IntpArray) -> npt.NDArray[np.int64]:
    """A telephone area code (DDD) valid in each state."""
    offset = (rng.random(len(states)) * _AREA_COUNT[states]).astype(np.int64)
    return _AREA_FLAT[_AREA_START[states] + offset]


def state_text(states: IntpArray) -> pa.Array:
    return pick(STATES, states)


def city_text(cities: IntpArray) -> pa.Array:
    return pick(CITY_NAMES, cities)


def zip_text(zips: npt.NDArray[np.int64]) -> pa.Array:
    return padded(zips, 5)
