"""A clean run is internally consistent: keys, foreign keys, types, totals, timelines."""

from __future__ import annotations

import pytest

from pipelines.contracts import ContractSet, duckdb_type

GENERATED = [
    "products",
    "sellers",
    "customers",
    "customer_profiles",
    "orders",
    "order_items",
    "order_payments",
    "order_reviews",
]


@pytest.mark.parametrize("table", GENERATED)
def test_values_obey_the_contract(table: str, clean, contracts: ContractSet, con, scan) -> None:
    contract = contracts[table]
    source = scan(clean.out, table)
    keys = ", ".join(contract.primary_key)
    duplicates = con.sql(
        f"SELECT count(*) FROM (SELECT {keys} FROM {source} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert duplicates == (0,), f"{table}: duplicate primary keys"
    for column in contract.columns:
        name = column.name
        if column.required:
            nulls = con.sql(f"SELECT count(*) FROM {source} WHERE {name} IS NULL").fetchone()
            assert nulls == (0,), f"{table}.{name}: required but empty"
        bad_type = con.sql(
            f"SELECT count(*) FROM {source} WHERE {name} IS NOT NULL "
            f"AND TRY_CAST({name} AS {duckdb_type(column.type)}) IS NULL"
        ).fetchone()
        assert bad_type == (0,), f"{table}.{name}: values not of type {column.type}"
        if column.allowed_values:
            allowed = ", ".join(f"'{v}'" for v in column.allowed_values)
            outside = con.sql(
                f"SELECT count(*) FROM {source} WHERE {name} NOT IN ({allowed})"
            ).fetchone()
            assert outside == (0,), f"{table}.{name}: value outside allowed values"
        if column.pattern:
            unmatched = con.sql(
                f"SELECT count(*) FROM {source} WHERE NOT regexp_full_match({name}, ?)",
                params=[column.pattern],
            ).fetchone()
            assert unmatched == (0,), f"{table}.{name}: value not matching {column.pattern}"
        cast = f"TRY_CAST({name} AS {duckdb_type(column.type)})"
        if column.min is not None:
            low = con.sql(f"SELECT count(*) FROM {source} WHERE {cast} < ?", params=[column.min])
            assert low.fetchone() == (0,), f"{table}.{name}: below min"
        if column.max is not None:
            high = con.sql(f"SELECT count(*) FROM {source} WHERE {cast} > ?", params=[column.max])
            assert high.fetchone() == (0,), f"{table}.{name}: above max"


@pytest.mark.parametrize("table", GENERATED)
def test_every_foreign_key_resolves(table: str, clean, contracts: ContractSet, con, scan) -> None:
    for fk in contracts[table].foreign_keys:
        orphans = con.sql(
            f"SELECT count(*) FROM {scan(clean.out, table)} c WHERE NOT EXISTS ("
            f"SELECT 1 FROM {scan(clean.out, fk.ref_table)} p "
            f"WHERE p.{fk.ref_column} = c.{fk.column})"
        ).fetchone()
        assert orphans == (0,), f"{table}.{fk.column} -> {fk.references}"


def test_references_were_delivered_no_later(clean, con, scan) -> None:
    out = clean.out
    checks = {
        # child, parent, join, rule on (child folder, parent folder)
        "items/payments/reviews -> orders": [
            (t, "orders", "order_id", "p.folder <= c.folder")
            for t in ("order_items", "order_payments", "order_reviews")
        ],
        "orders -> customers": [("orders", "customers", "customer_id", "p.folder = c.folder")],
        "profiles -> customers": [
            ("customer_profiles", "customers", "customer_unique_id", "p.folder = c.folder")
        ],
        "items -> catalogue": [
            ("order_items", "products", "product_id", "p.folder = '2018-01-01'"),
            ("order_items", "sellers", "seller_id", "p.folder = '2018-01-01'"),
        ],
    }
    for label, rules in checks.items():
        for child, parent, key, rule in rules:
            missing = con.sql(
                f"SELECT count(*) FROM {scan(out, child)} c WHERE NOT EXISTS ("
                f"SELECT 1 FROM {scan(out, parent)} p WHERE p.{key} = c.{key} AND {rule})"
            ).fetchone()
            assert missing == (0,), f"{label}: {child}.{key}"


def test_payments_add_up_to_items_and_freight(clean, con, scan) -> None:
    mismatched = con.sql(
        f"""
        WITH items AS (
            SELECT order_id, sum(CAST(price AS DECIMAL(12,2)) + CAST(freight_value AS DECIMAL(12,2))) AS due
            FROM {scan(clean.out, "order_items")} GROUP BY order_id),
        paid AS (
            SELECT order_id, sum(CAST(payment_value AS DECIMAL(12,2))) AS paid, count(*) AS n
            FROM {scan(clean.out, "order_payments")} GROUP BY order_id)
        SELECT count(*) FILTER (WHERE paid.paid IS DISTINCT FROM items.due),
               count(*) FILTER (WHERE paid.n > 1)
        FROM items FULL JOIN paid USING (order_id)
        """
    ).fetchone()
    assert mismatched is not None
    assert mismatched[0] == 0
    assert mismatched[1] > 0  # some orders are paid in several parts (vouchers)


def test_item_numbers_run_from_one(clean, con, scan) -> None:
    gaps = con.sql(
        f"SELECT count(*) FROM (SELECT order_id, max(CAST(order_item_id AS INT)) m, count(*) n "
        f"FROM {scan(clean.out, 'order_items')} GROUP BY order_id) WHERE m <> n"
    ).fetchone()
    assert gaps == (0,)


def test_order_timelines_follow_the_status(clean, con, scan) -> None:
    source = f"""(SELECT order_status AS status,
        CAST(order_purchase_timestamp AS TIMESTAMP) AS bought,
        CAST(order_approved_at AS TIMESTAMP) AS approved,
        CAST(order_delivered_carrier_date AS TIMESTAMP) AS carrier,
        CAST(order_delivered_customer_date AS TIMESTAMP) AS delivered,
        CAST(order_estimated_delivery_date AS TIMESTAMP) AS estimated
        FROM {scan(clean.out, "orders")})"""
    problems = {
        "delivered without a delivery date": "status = 'delivered' AND delivered IS NULL",
        "delivery date but not delivered": "status <> 'delivered' AND delivered IS NOT NULL",
        "shipped without carrier date": "status = 'shipped' AND carrier IS NULL",
        "created but approved": "status = 'created' AND approved IS NOT NULL",
        "approved before purchase": "approved < bought",
        "handed to carrier before approval": "carrier < approved",
        "delivered before carrier": "delivered < carrier",
        "delivered in under 3 or over 26 days": (
            "delivered IS NOT NULL AND (delivered < bought + INTERVAL 3 DAY "
            "OR delivered > bought + INTERVAL 26 DAY)"
        ),
        "estimate not at midnight or out of range": (
            "estimated <> date_trunc('day', estimated) "
            "OR estimated < date_trunc('day', bought) + INTERVAL 15 DAY "
            "OR estimated > date_trunc('day', bought) + INTERVAL 40 DAY"
        ),
    }
    for label, condition in problems.items():
        count = con.sql(f"SELECT count(*) FROM {source} WHERE {condition}").fetchone()
        assert count == (0,), label


def test_reviews_follow_delivery(clean, con, scan) -> None:
    late = con.sql(
        f"""SELECT count(*) FROM {scan(clean.out, "order_reviews")} r
        JOIN {scan(clean.out, "orders")} o USING (order_id)
        WHERE CAST(review_creation_date AS TIMESTAMP) < CAST(
                coalesce(order_delivered_customer_date, order_estimated_delivery_date) AS TIMESTAMP
              ) - INTERVAL 1 DAY
           OR CAST(review_answer_timestamp AS TIMESTAMP) < CAST(review_creation_date AS TIMESTAMP)
           OR CAST(review_answer_timestamp AS TIMESTAMP)
              > CAST(review_creation_date AS TIMESTAMP) + INTERVAL 5 DAY"""
    ).fetchone()
    assert late == (0,)


def test_text_formats_look_like_olist(clean, con, scan) -> None:
    items = scan(clean.out, "order_items")
    row = con.sql(
        f"SELECT count(*) FILTER (WHERE NOT regexp_full_match(order_id, '[0-9a-f]{{32}}')), "
        f"count(*) FILTER (WHERE NOT regexp_full_match(shipping_limit_date, "
        f"'\\d{{4}}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d')), "
        f"count(*) FILTER (WHERE NOT regexp_full_match(price, '\\d+\\.\\d\\d?')), "
        f"count(*) FILTER (WHERE regexp_full_match(price, '\\d+\\.\\d')) "
        f"FROM {items}"
    ).fetchone()
    assert row is not None
    assert row[:3] == (0, 0, 0)
    assert row[3] > 0  # Olist writes 144.0 and 99.9, not 144.00 and 99.90
    phones = con.sql(
        f"SELECT count(*) FILTER (WHERE NOT regexp_full_match(phone, "
        f"'\\+55 \\d\\d 9\\d{{4}}-\\d{{4}}')), count(*) FILTER (WHERE phone IS NULL), count(*) "
        f"FROM {scan(clean.out, 'customer_profiles')}"
    ).fetchone()
    assert phones is not None
    assert phones[0] == 0
    assert 0 < phones[1] < 0.1 * phones[2]
