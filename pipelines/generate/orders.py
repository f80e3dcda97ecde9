"""One batch of orders with everything that hangs off them: customers, profiles, items,
payments and reviews, all drawn with vectorised numpy from one random generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.generate import distributions as dist
from pipelines.generate import places, vocab
from pipelines.generate.catalogue import Catalogue
from pipelines.generate.people import PersonPool, draw_buyers
from pipelines.generate.values import (
    DAY,
    HOUR,
    concat,
    draw,
    draw_p,
    fixed_text,
    hex_ids,
    integers,
    mask_out,
    midnight,
    money,
    pick,
    timestamps,
)

Columns = dict[str, pa.Array]
IntArray = npt.NDArray[np.int64]

# Columns that can hold any text (commas, quotes, line breaks); writers quote/escape these.
FREE_TEXT: dict[str, frozenset[str]] = {
    "customers": frozenset({"customer_city"}),
    "customer_profiles": frozenset({"full_name", "street_address"}),
    "order_reviews": frozenset({"review_comment_title", "review_comment_message"}),
    "sellers": frozenset({"seller_city"}),
}

_STATUSES = list(dist.ORDER_STATUS)
_ITEMS = np.array(list(dist.ITEMS_PER_ORDER), dtype=np.int64)
_PAY_TYPES = list(dist.PAYMENT_TYPE)
_INSTALMENTS = np.array(list(dist.CREDIT_CARD_INSTALLMENTS), dtype=np.int64)
_SCORES = np.array(list(dist.REVIEW_SCORE), dtype=np.int64)
_SCORE_TARGET = np.array(list(dist.REVIEW_SCORE.values()))
# Scores of reviews of late or undelivered orders (shares for 5, 4, 3, 2, 1).
_SCORE_BAD = np.array([0.22, 0.1, 0.1, 0.1, 0.48])

# Extra voucher payments: the main payment comes first, then 1-3 vouchers.
_EXTRA_VOUCHERS = {1: 0.7, 2: 0.2, 3: 0.1}
_EXTRA_MEAN = sum(k * p for k, p in _EXTRA_VOUCHERS.items())
_EXTRA_ROWS = dist.PAYMENT_ROWS_PER_ORDER - 1
_EXTRA_SHARE = _EXTRA_ROWS / _EXTRA_MEAN
# Main payment type per order, so that *row* shares match dist.PAYMENT_TYPE.
_MAIN_PAY = np.array(
    [
        share * dist.PAYMENT_ROWS_PER_ORDER - (_EXTRA_ROWS if kind == "voucher" else 0.0)
        for kind, share in dist.PAYMENT_TYPE.items()
    ]
)


def _flat(groups: dict[str, list[str]]) -> tuple[list[str], IntArray, IntArray]:
    words = [w for key in ("good", "mixed", "bad") for w in groups[key]]
    counts = np.array([len(groups[key]) for key in ("good", "mixed", "bad")], dtype=np.int64)
    return words, np.concatenate([[0], np.cumsum(counts)[:-1]]), counts


_CONTACT_FIRST = [vocab.ascii_lower(n) for n in vocab.FIRST_NAMES_F + vocab.FIRST_NAMES_M]
_CONTACT_LAST = [vocab.ascii_lower(n) for n in vocab.LAST_NAMES]
_DOMAINS = list(dist.EMAIL_DOMAIN)
_TITLES = _flat(vocab.REVIEW_TITLES)
_MESSAGES = _flat(vocab.REVIEW_MESSAGES)
_SECONDS = _flat(vocab.SECOND_SENTENCES)


@dataclass(frozen=True)
class OrderBatch:
    tables: dict[str, Columns]
    review_day: IntArray  # epoch day of each review's creation date (its delivery folder)


def make_batch(
    rng: np.random.Generator, catalogue: Catalogue, pool: PersonPool, day: int, n: int
) -> OrderBatch:
    """``n`` orders purchased on epoch day ``day``."""
    buyers = draw_buyers(rng, pool, n, day)
    purchase = day * DAY + draw(rng, dist.PURCHASE_HOUR, n) * HOUR + rng.integers(0, HOUR, n)
    status = draw(rng, dist.ORDER_STATUS, n)
    main_pay = draw_p(rng, _MAIN_PAY, n)
    order_ids = hex_ids(rng, n)

    is_ = {name: status == _STATUSES.index(name) for name in _STATUSES}
    boleto = main_pay == _PAY_TYPES.index("boleto")
    approve_delay = np.where(
        boleto,
        rng.uniform(0.3, 3.0, n) * DAY,
        np.clip(rng.lognormal(np.log(900), 1.3, n), 30, 2 * DAY),
    ).astype(np.int64)
    approved = purchase + approve_delay
    no_approval = is_["created"] | (is_["canceled"] & (rng.random(n) < 0.2))
    carrier = approved + (rng.uniform(1, 5, n) * DAY).astype(np.int64)
    has_carrier = is_["delivered"] | is_["shipped"]
    has_carrier |= is_["canceled"] & ~no_approval & (rng.random(n) < 0.1)
    delivered = purchase + ((3 + 22 * rng.beta(1.8, 3.2, n)) * DAY).astype(np.int64)  # 3-25 days
    delivered = np.maximum(delivered, carrier + (rng.uniform(0.3, 3.0, n) * DAY).astype(np.int64))
    estimated = (
        midnight(purchase) + (15 + np.floor(26 * rng.beta(1.3, 2.2, n))).astype(np.int64) * DAY
    )
    orders = {
        "order_id": fixed_text(order_ids),
        "customer_id": fixed_text(buyers.customer_ids),
        "order_status": pick(_STATUSES, status),
        "order_purchase_timestamp": timestamps(purchase),
        "order_approved_at": timestamps(approved, no_approval),
        "order_delivered_carrier_date": timestamps(carrier, ~has_carrier),
        "order_delivered_customer_date": timestamps(delivered, ~is_["delivered"]),
        "order_estimated_delivery_date": timestamps(estimated),
    }
    items, totals = _items(rng, catalogue, order_ids, purchase)
    payments = _payments(rng, order_ids, main_pay, totals)
    late_or_missing = ~is_["delivered"] | (delivered > estimated)
    review_at = np.where(is_["delivered"], midnight(delivered) + DAY, estimated)
    reviews, review_day = _reviews(rng, order_ids, review_at, late_or_missing)
    return OrderBatch(
        tables={
            "customers": buyers.customers,
            "customer_profiles": buyers.profiles,
            "orders": orders,
            "order_items": items,
            "order_payments": payments,
            "order_reviews": reviews,
        },
        review_day=review_day,
    )


def _within(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For groups of sizes ``counts``: the group of each row and its 1-based rank in it."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(len(group)) - starts[group] + 1


def _items(
    rng: np.random.Generator,
    catalogue: Catalogue,
    order_ids: npt.NDArray[np.uint8],
    purchase: IntArray,
) -> tuple[Columns, IntArray]:
    n = len(order_ids)
    per_order = _ITEMS[draw(rng, dist.ITEMS_PER_ORDER, n)]
    order, rank = _within(per_order)
    m = len(order)
    first = catalogue.draw_products(rng, n)
    other = catalogue.draw_products(rng, m)
    # Multi-item orders often repeat one product (several units).
    product = np.where((rank == 1) | (rng.random(m) < 0.5), first[order], other)
    price = catalogue.price_cents[product]
    freight = np.rint(price * rng.uniform(0.15, 0.25, m)).astype(np.int64)
    limit = purchase + (rng.uniform(3, 7, n) * DAY).astype(np.int64)
    totals = np.bincount(order, weights=price + freight, minlength=n).astype(np.int64)
    columns = {
        "order_id": fixed_text(order_ids[order]),
        "order_item_id": integers(rank),
        "product_id": fixed_text(catalogue.product_ids[product]),
        "seller_id": fixed_text(catalogue.seller_ids[catalogue.seller[product]]),
        "shipping_limit_date": timestamps(limit[order]),
        "price": money(price),
        "freight_value": money(freight),
    }
    return columns, totals


def _payments(
    rng: np.random.Generator,
    order_ids: npt.NDArray[np.uint8],
    main_pay: npt.NDArray[np.intp],
    totals: IntArray,
) -> Columns:
    n = len(order_ids)
    extra = np.where(
        rng.random(n) < _EXTRA_SHARE,
        np.array(list(_EXTRA_VOUCHERS))[draw(rng, _EXTRA_VOUCHERS, n)],
        0,
    ).astype(np.int64)
    order, seq = _within(extra + 1)
    voucher_total = np.where(extra > 0, (totals * rng.uniform(0.1, 0.6, n)).astype(np.int64), 0)
    each = voucher_total // np.maximum(extra, 1)
    value = np.where(seq == 1, (totals - voucher_total)[order], each[order])
    value += np.where(seq == 2, (voucher_total - each * extra)[order], 0)  # remainder cents
    kind = np.where(seq == 1, main_pay[order], _PAY_TYPES.index("voucher"))
    credit = kind == _PAY_TYPES.index("credit_card")
    instalments = np.where(
        credit, _INSTALMENTS[draw(rng, dist.CREDIT_CARD_INSTALLMENTS, len(kind))], 1
    )
    return {
        "order_id": fixed_text(order_ids[order]),
        "payment_sequential": integers(seq),
        "payment_type": pick(_PAY_TYPES, kind),
        "payment_installments": integers(instalments),
        "payment_value": money(value),
    }


def _reviews(
    rng: np.random.Generator,
    order_ids: npt.NDArray[np.uint8],
    review_at: IntArray,
    late_or_missing: npt.NDArray[np.bool_],
) -> tuple[Columns, IntArray]:
    keep = rng.random(len(order_ids)) < dist.REVIEW_SHARE
    order_ids, created, bad = order_ids[keep], review_at[keep], late_or_missing[keep]
    n = len(order_ids)
    # Late or undelivered orders score lower; on-time shares are set so the batch still
    # matches dist.REVIEW_SCORE overall.
    bad_share = float(bad.mean()) if n else 0.0
    good_p = np.clip(_SCORE_TARGET - bad_share * _SCORE_BAD, 1e-6, None)
    score = np.where(bad, _SCORES[draw_p(rng, _SCORE_BAD, n)], _SCORES[draw_p(rng, good_p, n)])
    sentiment = np.where(score >= 4, 0, np.where(score == 3, 1, 2))
    answer = created + np.minimum(
        rng.exponential(1.2 * DAY, n) + rng.integers(60, HOUR, n), 5 * DAY
    )
    has_title = rng.random(n) < dist.REVIEW_TITLE_SHARE
    has_message = rng.random(n) < dist.REVIEW_MESSAGE_SHARE
    columns = {
        "review_id": fixed_text(hex_ids(rng, n)),
        "order_id": fixed_text(order_ids),
        "review_score": integers(score),
        "review_comment_title": mask_out(_phrase(rng, _TITLES, sentiment), ~has_title),
        "review_comment_message": mask_out(_message(rng, sentiment), ~has_message),
        "review_creation_date": timestamps(created),
        "review_answer_timestamp": timestamps(answer.astype(np.int64)),
    }
    return columns, created // DAY


def _phrase(
    rng: np.random.Generator,
    table: tuple[list[str], IntArray, IntArray],
    sentiment: npt.NDArray[np.intp],
) -> pa.Array:
    words, start, count = table
    idx = start[sentiment] + (rng.random(len(sentiment)) * count[sentiment]).astype(np.int64)
    return pick(words, idx)


def _message(rng: np.random.Generator, sentiment: npt.NDArray[np.intp]) -> pa.Array:
    n = len(sentiment)
    first = _phrase(rng, _MESSAGES, sentiment)
    second = _phrase(rng, _SECONDS, sentiment)
    u = rng.random(n)
    # Some messages carry a line break ("\r\n", as in the Olist export), ~25% a second sentence.
    joint = np.where(u < dist.REVIEW_LINE_BREAK_SHARE, 0, np.where(u < 0.25, 1, 2))
    tail = pc.if_else(pa.array(joint < 2), concat(pick(["\r\n", " ", ""], joint), second), "")
    contact = _contacts(rng, rng.random(n) < dist.REVIEW_CONTACT_SHARE)
    return concat(first, tail, contact)


def _contacts(rng: np.random.Generator, wanted: npt.NDArray[np.bool_]) -> pa.Array:
    """A sentence naming a phone number or e-mail address where wanted, else empty text."""
    where = np.flatnonzero(wanted)
    k = len(where)
    template = rng.integers(0, len(vocab.CONTACT_PHRASES), k)
    ddd = places.ALL_AREA_CODES[rng.integers(0, len(places.ALL_AREA_CODES), k)]
    digits = rng.integers(0, 10_000, (k, 2))
    first = rng.integers(0, len(_CONTACT_FIRST), k)
    last = rng.integers(0, len(_CONTACT_LAST), k)
    number = rng.integers(1, 100, k)
    domain = draw(rng, dist.EMAIL_DOMAIN, k)
    out = [""] * len(wanted)
    for j, i in enumerate(where.tolist()):
        phone = f"({ddd[j]}) 9{digits[j, 0]:04d}-{digits[j, 1]:04d}"
        email = (
            f"{_CONTACT_FIRST[first[j]]}.{_CONTACT_LAST[last[j]]}{number[j]}@{_DOMAINS[domain[j]]}"
        )
        out[i] = " " + vocab.CONTACT_PHRASES[template[j]].format(phone=phone, email=email)
    return pa.array(out, type=pa.string())
