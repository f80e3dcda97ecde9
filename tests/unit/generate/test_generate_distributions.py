"""Generated shares match the Olist reference distributions within sampling tolerance."""

from __future__ import annotations

import math

import pytest

from pipelines.contracts import ContractSet
from pipelines.generate import distributions as dist


def _shares(con, sql: str) -> dict[str, float]:
    rows = con.sql(sql).fetchall()
    total = sum(n for _, n in rows)
    return {str(key): n / total for key, n in rows}


def _close(observed: dict[str, float], expected: dict, n: int, keys: list) -> None:
    for key in keys:
        want = expected[key]
        tolerance = max(0.01, 5 * math.sqrt(want * (1 - want) / n))
        got = observed.get(str(key), 0.0)
        assert abs(got - want) <= tolerance, f"{key}: {got:.4f} vs {want:.4f} ± {tolerance:.4f}"


def test_reference_distributions_are_shares() -> None:
    for name, shares in dist.SHARES.items():
        assert sum(shares.values()) == pytest.approx(1.0), name
        assert all(v >= 0 for v in shares.values()), name
    for shares in dist.COLUMN_REFERENCE.values():
        assert any(shares is s for s in dist.SHARES.values())


def test_reference_segments_are_allowed_by_the_contracts(contracts: ContractSet) -> None:
    for key, shares in dist.COLUMN_REFERENCE.items():
        table, column = key.split(".")
        allowed = contracts[table].column(column).allowed_values
        if allowed:
            assert {str(s) for s in shares} <= set(allowed), key
    assert set(dist.CUSTOMER_STATE) == set(dist.CITIES) == set(dist.AREA_CODES)
    assert len(dist.CUSTOMER_STATE) == 27
    assert dist.REVIEW_SCORE.keys() == {1, 2, 3, 4, 5}


def test_customer_states(clean, con, scan) -> None:
    observed = _shares(
        con, f"SELECT customer_state, count(*) FROM {scan(clean.out, 'customers')} GROUP BY 1"
    )
    assert observed["SP"] == pytest.approx(0.42, abs=0.03)
    _close(observed, dist.CUSTOMER_STATE, 6000, ["SP", "RJ", "MG", "RS", "PR"])
    assert len(observed) >= 20


def test_zip_prefixes_fit_the_state(clean, con, scan) -> None:
    # Brazilian CEP ranges: SP 01-19, RJ 20-28, MG 30-39, RS 90-99.
    wrong = con.sql(
        f"""SELECT count(*) FROM {scan(clean.out, "customers")} WHERE
        (customer_state = 'SP' AND NOT customer_zip_code_prefix BETWEEN '01000' AND '19999')
        OR (customer_state = 'RJ' AND NOT customer_zip_code_prefix BETWEEN '20000' AND '28999')
        OR (customer_state = 'MG' AND NOT customer_zip_code_prefix BETWEEN '30000' AND '39999')
        OR (customer_state = 'RS' AND NOT customer_zip_code_prefix BETWEEN '90000' AND '99999')"""
    ).fetchone()
    assert wrong == (0,)


def test_order_status(clean, con, scan) -> None:
    observed = _shares(
        con, f"SELECT order_status, count(*) FROM {scan(clean.out, 'orders')} GROUP BY 1"
    )
    _close(observed, dist.ORDER_STATUS, 6000, ["delivered", "shipped"])


def test_payment_types_by_row(clean, con, scan) -> None:
    observed = _shares(
        con, f"SELECT payment_type, count(*) FROM {scan(clean.out, 'order_payments')} GROUP BY 1"
    )
    _close(observed, dist.PAYMENT_TYPE, 6000, ["credit_card", "boleto", "voucher", "debit_card"])
    instalments = con.sql(
        f"SELECT max(CAST(payment_installments AS INT)), "
        f"max(CAST(payment_installments AS INT)) FILTER (WHERE payment_type <> 'credit_card') "
        f"FROM {scan(clean.out, 'order_payments')}"
    ).fetchone()
    assert instalments == (10, 1)


def test_review_scores_and_texts(clean, con, scan) -> None:
    reviews = scan(clean.out, "order_reviews")
    observed = _shares(con, f"SELECT review_score, count(*) FROM {reviews} GROUP BY 1")
    _close(observed, dist.REVIEW_SCORE, 6000, [1, 2, 3, 4, 5])
    row = con.sql(
        f"""SELECT count(*), count(review_comment_message), count(review_comment_title),
        count(*) FILTER (WHERE regexp_matches(review_comment_message, '[\\w.]+@[\\w.]+\\.\\w+')),
        count(*) FILTER (WHERE regexp_matches(review_comment_message, '\\(\\d\\d\\) 9\\d{{4}}-\\d{{4}}')),
        count(*) FILTER (WHERE contains(review_comment_message, chr(13) || chr(10)))
        FROM {reviews}"""
    ).fetchone()
    assert row is not None
    total, messages, titles, emails, phones, breaks = row
    assert messages / total == pytest.approx(dist.REVIEW_MESSAGE_SHARE, abs=0.03)
    assert titles / total == pytest.approx(dist.REVIEW_TITLE_SHARE, abs=0.02)
    assert emails > 0 and phones > 0
    assert (emails + phones) / messages == pytest.approx(dist.REVIEW_CONTACT_SHARE, abs=0.01)
    assert breaks > 0
    orders = con.sql(f"SELECT count(*) FROM {scan(clean.out, 'orders')}").fetchone()
    assert orders is not None
    assert total / orders[0] == pytest.approx(dist.REVIEW_SHARE, abs=0.01)


def test_late_deliveries_score_lower(clean, con, scan) -> None:
    row = con.sql(
        f"""SELECT avg(CAST(review_score AS INT)) FILTER (WHERE order_delivered_customer_date
                > order_estimated_delivery_date OR order_status <> 'delivered'),
            avg(CAST(review_score AS INT)) FILTER (WHERE order_delivered_customer_date
                <= order_estimated_delivery_date)
        FROM {scan(clean.out, "order_reviews")} JOIN {scan(clean.out, "orders")} USING (order_id)"""
    ).fetchone()
    assert row is not None
    late, on_time = row
    assert late < on_time - 1


def test_items_per_order_and_prices(clean, con, scan) -> None:
    items = scan(clean.out, "order_items")
    per_order = _shares(
        con,
        f"SELECT n, count(*) FROM (SELECT count(*) n FROM {items} GROUP BY order_id) GROUP BY 1",
    )
    _close(per_order, dist.ITEMS_PER_ORDER, 6000, [1, 2])
    assert max(int(k) for k in per_order) <= 6
    row = con.sql(
        f"SELECT median(CAST(price AS DOUBLE)), "
        f"min(CAST(freight_value AS DOUBLE) / CAST(price AS DOUBLE)), "
        f"max(CAST(freight_value AS DOUBLE) / CAST(price AS DOUBLE)) FROM {items}"
    ).fetchone()
    assert row is not None
    median, low, high = row
    assert 55 <= median <= 100
    assert low >= 0.14 and high <= 0.26


def test_repeat_customers(clean, con, scan) -> None:
    row = con.sql(
        f"SELECT count(*) FILTER (WHERE n > 1) / count(*) FROM "
        f"(SELECT customer_unique_id, count(*) n FROM {scan(clean.out, 'customers')} GROUP BY 1)"
    ).fetchone()
    assert row is not None
    assert 0.01 <= row[0] <= 0.05


def test_profiles_look_brazilian(clean, con, scan) -> None:
    profiles = scan(clean.out, "customer_profiles")
    row = con.sql(
        f"""SELECT count(*),
        count(*) FILTER (WHERE NOT contains(street_address, ', ') OR NOT contains(street_address, ' - ')),
        count(*) FILTER (WHERE gender = 'X'),
        min(date_diff('year', CAST(birth_date AS DATE), DATE '2018-01-01')),
        max(date_diff('year', CAST(birth_date AS DATE), DATE '2018-01-01')),
        median(date_diff('year', CAST(birth_date AS DATE), DATE '2018-01-01'))
        FROM {profiles}"""
    ).fetchone()
    assert row is not None
    total, bad_address, genderless, youngest, oldest, median = row
    assert bad_address == 0
    assert 0 < genderless < 0.05 * total
    assert youngest >= 17 and oldest <= 81
    assert 28 <= median <= 45
