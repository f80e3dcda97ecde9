"""The product and seller catalogue, generated up front and delivered on the first day.

Only what order items need is held in memory (ids, category, price, seller, popularity);
the descriptive columns are drawn batch by batch when the catalogue files are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipelines.generate import distributions as dist
from pipelines.generate import places
from pipelines.generate.values import draw, fixed_text, hex_ids, integers, pick

CATEGORIES: list[str | None] = list(dist.PRODUCT_CATEGORY)
_NO_CATEGORY = CATEGORIES.index(None)
_MEDIANS = np.array(
    [dist.PRICE_MEDIAN_BRL.get(c or "", dist.PRICE_MEDIAN_DEFAULT_BRL) for c in CATEGORIES]
)
_PHOTOS = np.array(list(dist.PRODUCT_PHOTOS), dtype=np.int64)

Columns = dict[str, pa.Array]


def catalogue_sizes(orders: int) -> tuple[int, int]:
    """(products, sellers) for a run of ``orders`` orders."""
    return max(50, orders // 3), max(10, orders // 30)


@dataclass(frozen=True)
class Catalogue:
    seed: int
    product_ids: npt.NDArray[np.uint8]  # (n, 32) hex
    category: npt.NDArray[np.intp]  # index into CATEGORIES
    price_cents: npt.NDArray[np.int64]
    seller: npt.NDArray[np.int64]  # index into seller_ids
    popularity_cdf: npt.NDArray[np.float64]
    seller_ids: npt.NDArray[np.uint8]

    @property
    def products(self) -> int:
        return len(self.product_ids)

    @property
    def sellers(self) -> int:
        return len(self.seller_ids)

    def draw_products(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.intp]:
        """Products for ``n`` items, popular products more often."""
        idx = np.searchsorted(self.popularity_cdf, rng.random(n), side="right")
        return np.minimum(idx, self.products - 1)

    def product_batches(self, batch: int) -> Iterator[Columns]:
        for number, start in enumerate(range(0, self.products, batch)):
            rng = np.random.default_rng([self.seed, 2, number])
            yield self._products(rng, slice(start, min(start + batch, self.products)))

    def seller_batches(self, batch: int) -> Iterator[Columns]:
        for number, start in enumerate(range(0, self.sellers, batch)):
            rng = np.random.default_rng([self.seed, 3, number])
            stop = min(start + batch, self.sellers)
            states = places.draw_states(rng, dist.SELLER_STATE, stop - start)
            cities, zips = places.draw_cities(rng, states)
            yield {
                "seller_id": fixed_text(self.seller_ids[start:stop]),
                "seller_zip_code_prefix": places.zip_text(zips),
                "seller_city": places.city_text(cities),
                "seller_state": places.state_text(states),
            }

    def _products(self, rng: np.random.Generator, rows: slice) -> Columns:
        category = self.category[rows]
        n = len(category)
        bare = category == _NO_CATEGORY  # Olist: no category => no name or description
        name_len = np.clip(np.rint(rng.normal(48, 10, n)), 5, 76).astype(np.int64)
        desc_len = np.clip(np.rint(rng.lognormal(np.log(600), 0.8, n)), 4, 3992).astype(np.int64)
        photos = _PHOTOS[draw(rng, dist.PRODUCT_PHOTOS, n)]
        grams = np.clip(rng.lognormal(np.log(700), 1.3, n), 50, 40425)
        weight = (np.rint(grams / 25) * 25).astype(np.int64)
        length = np.clip(np.rint(rng.lognormal(np.log(25), 0.5, n)), 7, 105).astype(np.int64)
        height = np.clip(np.rint(rng.lognormal(np.log(13), 0.7, n)), 2, 105).astype(np.int64)
        width = np.clip(np.rint(rng.lognormal(np.log(20), 0.5, n)), 6, 118).astype(np.int64)
        return {
            "product_id": fixed_text(self.product_ids[rows]),
            "product_category_name": pick(CATEGORIES, category),
            "product_name_lenght": integers(name_len, bare),
            "product_description_lenght": integers(desc_len, bare),
            "product_photos_qty": integers(photos, bare),
            "product_weight_g": integers(weight),
            "product_length_cm": integers(length),
            "product_height_cm": integers(height),
            "product_width_cm": integers(width),
        }


def build_catalogue(seed: int, orders: int) -> Catalogue:
    n_products, n_sellers = catalogue_sizes(orders)
    rng = np.random.default_rng([seed, 1])
    seller_ids = hex_ids(rng, n_sellers)
    product_ids = hex_ids(rng, n_products)
    category = draw(rng, dist.PRODUCT_CATEGORY, n_products)
    # A few large sellers and a long tail; each product has one seller.
    seller_weight = rng.lognormal(0.0, 1.5, n_sellers)
    seller = np.searchsorted(np.cumsum(seller_weight) / seller_weight.sum(), rng.random(n_products))
    seller = np.minimum(seller, n_sellers - 1).astype(np.int64)
    # Prices: log-normal around the category median, then shop-style endings (.90, .99, .00).
    price = rng.lognormal(np.log(_MEDIANS[category]), 0.8)
    reais = np.clip(np.floor(price), 0, 6734).astype(np.int64)
    ending = draw(rng, {90: 0.4, 99: 0.25, 0: 0.2, -1: 0.15}, n_products)
    cents = np.array([90, 99, 0, 0], dtype=np.int64)[ending]
    cents = np.where(ending == 3, rng.integers(0, 100, n_products), cents)
    price_cents = np.maximum(reais * 100 + cents, 85)
    popularity = rng.lognormal(0.0, 1.0, n_products)
    return Catalogue(
        seed=seed,
        product_ids=product_ids,
        category=category,
        price_cents=price_cents,
        seller=seller,
        popularity_cdf=np.cumsum(popularity) / popularity.sum(),
        seller_ids=seller_ids,
    )
