"""Buyers: Olist-style per-order customer records and the SYNTHETIC identity profiles.

Each order gets its own ``customer_id``; ``customer_unique_id`` names the person. A small
share of orders comes from persons seen before (drawn from a bounded pool); every new person
also gets one synthetic profile row (name, e-mail, phone, birth date, gender, address), made
up from word lists. None of it describes a real person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipelines.generate import distributions as dist
from pipelines.generate import places, vocab
from pipelines.generate.values import (
    concat,
    dates,
    draw,
    fixed_text,
    hex_ids,
    integers,
    mask_out,
    padded,
    pick,
)

Columns = dict[str, pa.Array]
POOL_CAPACITY = 1 << 20

_FIRST = vocab.FIRST_NAMES_F + vocab.FIRST_NAMES_M
_FIRST_ASCII = [vocab.ascii_lower(n) for n in _FIRST]
_LAST_ASCII = [vocab.ascii_lower(n) for n in vocab.LAST_NAMES]
_MIDDLE = [*(n + " " for n in vocab.LAST_NAMES), ""]
_GENDERS = list(dist.GENDER)
_BANDS = np.array(list(dist.AGE_BAND), dtype=np.int64)
_DOMAINS = list(dist.EMAIL_DOMAIN)
_SEPARATORS = [".", "_", ""]


@dataclass
class PersonPool:
    """Persons seen so far; once full, new persons overwrite random slots."""

    capacity: int = POOL_CAPACITY
    size: int = 0
    ids: npt.NDArray[np.uint8] = field(init=False)
    state: npt.NDArray[np.intp] = field(init=False)
    city: npt.NDArray[np.intp] = field(init=False)
    zip: npt.NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = np.empty((self.capacity, 32), dtype=np.uint8)
        self.state = np.empty(self.capacity, dtype=np.intp)
        self.city = np.empty(self.capacity, dtype=np.intp)
        self.zip = np.empty(self.capacity, dtype=np.int64)

    def add(
        self,
        rng: np.random.Generator,
        ids: npt.NDArray[np.uint8],
        state: npt.NDArray[np.intp],
        city: npt.NDArray[np.intp],
        zips: npt.NDArray[np.int64],
    ) -> None:
        n = len(ids)
        free = min(n, self.capacity - self.size)
        slots = np.arange(self.size, self.size + free)
        if free < n:
            slots = np.concatenate([slots, rng.integers(0, self.capacity, n - free)])
        self.ids[slots] = ids
        self.state[slots] = state
        self.city[slots] = city
        self.zip[slots] = zips
        self.size += free


@dataclass(frozen=True)
class Buyers:
    customers: Columns
    profiles: Columns
    customer_ids: npt.NDArray[np.uint8]
    state: npt.NDArray[np.intp]


def draw_buyers(rng: np.random.Generator, pool: PersonPool, n: int, day: int) -> Buyers:
    """Customers for ``n`` orders placed on epoch day ``day``, and profiles of new persons."""
    repeat = rng.random(n) < dist.REPEAT_ORDER_SHARE if pool.size else np.zeros(n, dtype=bool)
    new = ~repeat
    k = int(new.sum())
    unique_ids = np.empty((n, 32), dtype=np.uint8)
    state = np.empty(n, dtype=np.intp)
    city = np.empty(n, dtype=np.intp)
    zips = np.empty(n, dtype=np.int64)
    old = rng.integers(0, max(pool.size, 1), n - k)
    unique_ids[repeat] = pool.ids[old]
    state[repeat] = pool.state[old]
    city[repeat] = pool.city[old]
    zips[repeat] = pool.zip[old]
    new_ids = hex_ids(rng, k)
    new_state = places.draw_states(rng, dist.CUSTOMER_STATE, k)
    new_city, new_zip = places.draw_cities(rng, new_state)
    unique_ids[new] = new_ids
    state[new] = new_state
    city[new] = new_city
    zips[new] = new_zip
    customer_ids = hex_ids(rng, n)
    customers = {
        "customer_id": fixed_text(customer_ids),
        "customer_unique_id": fixed_text(unique_ids),
        "customer_zip_code_prefix": places.zip_text(zips),
        "customer_city": places.city_text(city),
        "customer_state": places.state_text(state),
    }
    profiles = _profiles(rng, new_ids, new_state, day)
    pool.add(rng, new_ids, new_state, new_city, new_zip)
    return Buyers(customers, profiles, customer_ids, state)


def _profiles(
    rng: np.random.Generator, ids: npt.NDArray[np.uint8], state: npt.NDArray[np.intp], day: int
) -> Columns:
    n = len(ids)
    gender = draw(rng, dist.GENDER, n)
    n_f, n_all = len(vocab.FIRST_NAMES_F), len(_FIRST)
    first = np.where(
        gender == _GENDERS.index("F"),
        rng.integers(0, n_f, n),
        np.where(
            gender == _GENDERS.index("M"), rng.integers(n_f, n_all, n), rng.integers(0, n_all, n)
        ),
    )
    middle = np.where(
        rng.random(n) < 0.6, rng.integers(0, len(vocab.LAST_NAMES), n), len(_MIDDLE) - 1
    )
    last = rng.integers(0, len(vocab.LAST_NAMES), n)
    full_name = concat(
        pick(_FIRST, first), " ", pick(_MIDDLE, middle), pick(vocab.LAST_NAMES, last)
    )
    email = concat(
        pick(_FIRST_ASCII, first),
        pick(_SEPARATORS, rng.integers(0, len(_SEPARATORS), n)),
        pick(_LAST_ASCII, last),
        integers(rng.integers(1, 10_000, n)),
        "@",
        pick(_DOMAINS, draw(rng, dist.EMAIL_DOMAIN, n)),
    )
    phone = concat(
        "+55 ",
        integers(places.area_codes(rng, state)),
        " 9",
        padded(rng.integers(0, 10_000, n), 4),
        "-",
        padded(rng.integers(0, 10_000, n), 4),
    )
    band = _BANDS[draw(rng, dist.AGE_BAND, n)]
    age_days = (rng.integers(band[:, 0], band[:, 1] + 1) * 365.25 + rng.integers(0, 365, n)).astype(
        np.int64
    )
    address = concat(
        pick(list(vocab.STREET_TYPES), draw(rng, vocab.STREET_TYPES, n)),
        " ",
        pick(vocab.STREET_NAMES, rng.integers(0, len(vocab.STREET_NAMES), n)),
        ", ",
        integers(rng.integers(1, 3000, n)),
        " - ",
        pick(vocab.NEIGHBOURHOODS, rng.integers(0, len(vocab.NEIGHBOURHOODS), n)),
    )
    return {
        "customer_unique_id": fixed_text(ids),
        "full_name": full_name,
        "email": email,
        "phone": mask_out(phone, rng.random(n) < dist.PHONE_MISSING_SHARE),
        "birth_date": dates(day - age_days),
        "gender": pick(_GENDERS, gender),
        "street_address": address,
    }
