"""Column lineage from SQL, on hand-written queries whose answers are known."""

from __future__ import annotations

import pytest

from pipelines.warehouse.sqlcolumns import ColumnEdge, SqlLineageError, column_lineage

SCHEMAS = {
    "wh.lake.orders": {
        "order_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "order_status": "VARCHAR",
        "purchased_at": "TIMESTAMP",
    },
    "wh.lake.customers": {
        "customer_id": "VARCHAR",
        "customer_unique_id": "VARCHAR",
        "customer_state": "VARCHAR",
    },
    "wh.lake.items": {"order_id": "VARCHAR", "price": "DECIMAL(12,2)", "freight": "DECIMAL(12,2)"},
}
ORD, CUS, ITM = "wh.lake.orders", "wh.lake.customers", "wh.lake.items"


def kinds(result, column: str) -> set[tuple[str, str, str, str]]:
    return {(e.table, e.column, e.type, e.subtype) for e in result.fields[column]}


def dataset(result) -> set[tuple[str, str, str]]:
    return {(e.table, e.column, e.subtype) for e in result.dataset}


def test_bare_columns_are_identity_and_expressions_are_transformations():
    r = column_lineage(
        "select order_id, upper(order_status) as status, "
        "cast(purchased_at as date) as purchase_day from wh.lake.orders",
        SCHEMAS,
    )
    assert r.columns == ["order_id", "status", "purchase_day"]
    assert kinds(r, "order_id") == {(ORD, "order_id", "DIRECT", "IDENTITY")}
    assert kinds(r, "status") == {(ORD, "order_status", "DIRECT", "TRANSFORMATION")}
    assert kinds(r, "purchase_day") == {(ORD, "purchased_at", "DIRECT", "TRANSFORMATION")}
    assert r.fields["order_id"][0].description is None
    assert r.fields["status"][0].description == "UPPER(orders.order_status)"
    assert r.tables == [ORD]


def test_star_and_ctes_resolve_to_base_columns_through_every_layer():
    r = column_lineage(
        """
        with o as (select * from wh.lake.orders),
             renamed as (select order_id as id, lower(order_status) as s from o),
             again as (select * from renamed)
        select id, s from again
        """,
        SCHEMAS,
    )
    assert kinds(r, "id") == {(ORD, "order_id", "DIRECT", "IDENTITY")}
    assert kinds(r, "s") == {(ORD, "order_status", "DIRECT", "TRANSFORMATION")}
    assert r.fields["s"][0].description == "LOWER(o.order_status)"


def test_star_over_a_join_expands_from_the_schemas():
    r = column_lineage(
        "select * from wh.lake.orders o join wh.lake.customers c using (customer_id)", SCHEMAS
    )
    assert set(r.columns) == {
        "order_id",
        "customer_id",
        "order_status",
        "purchased_at",
        "customer_unique_id",
        "customer_state",
    }
    assert kinds(r, "customer_state") == {(CUS, "customer_state", "DIRECT", "IDENTITY")}
    assert dataset(r) == {(ORD, "customer_id", "JOIN"), (CUS, "customer_id", "JOIN")}


def test_aggregates_group_by_join_filter_having_and_sort():
    r = column_lineage(
        """
        select c.customer_unique_id,
               count(o.order_id) as orders_count,
               sum(i.price + i.freight) as spent,
               max(o.purchased_at) as last_purchase
        from wh.lake.orders as o
        join wh.lake.customers as c on o.customer_id = c.customer_id
        left join wh.lake.items as i on i.order_id = o.order_id
        where o.order_status <> 'canceled'
        group by c.customer_unique_id
        having count(*) > 1
        order by spent desc
        """,
        SCHEMAS,
    )
    assert kinds(r, "customer_unique_id") == {(CUS, "customer_unique_id", "DIRECT", "IDENTITY")}
    assert kinds(r, "orders_count") == {(ORD, "order_id", "DIRECT", "AGGREGATION")}
    assert kinds(r, "spent") == {
        (ITM, "price", "DIRECT", "AGGREGATION"),
        (ITM, "freight", "DIRECT", "AGGREGATION"),
    }
    assert kinds(r, "last_purchase") == {(ORD, "purchased_at", "DIRECT", "AGGREGATION")}
    assert dataset(r) == {
        (ORD, "customer_id", "JOIN"),
        (CUS, "customer_id", "JOIN"),
        (ITM, "order_id", "JOIN"),
        (ORD, "order_id", "JOIN"),
        (ORD, "order_status", "FILTER"),
        (CUS, "customer_unique_id", "GROUP_BY"),
        (ITM, "price", "SORT"),
        (ITM, "freight", "SORT"),
    }
    # a count reveals no input value: masking; a maximum is one of the inputs: not masking
    assert r.fields["orders_count"][0].masking is True
    assert r.fields["last_purchase"][0].masking is False
    filt = next(e for e in r.dataset if e.subtype == "FILTER")
    assert filt.description == "WHERE o.order_status <> 'canceled'"


def test_case_conditions_are_indirect_conditional_and_results_direct():
    r = column_lineage(
        """
        select order_id,
               case when order_status = 'delivered' then purchased_at else null end as delivered_at,
               if(order_status = 'canceled', 1, 0) as canceled
        from wh.lake.orders
        """,
        SCHEMAS,
    )
    assert kinds(r, "delivered_at") == {
        (ORD, "order_status", "INDIRECT", "CONDITIONAL"),
        (ORD, "purchased_at", "DIRECT", "TRANSFORMATION"),
    }
    assert kinds(r, "canceled") == {(ORD, "order_status", "INDIRECT", "CONDITIONAL")}


def test_window_partitions_are_dataset_level_window_and_hashes_mask():
    r = column_lineage(
        """
        select customer_id,
               md5(customer_id) as hashed,
               row_number() over (partition by customer_id order by purchased_at) as nth,
               sum(1) over (partition by order_status) as per_status
        from wh.lake.orders
        """,
        SCHEMAS,
    )
    assert r.fields["hashed"] == [
        ColumnEdge(ORD, "customer_id", "DIRECT", "TRANSFORMATION", "MD5(orders.customer_id)", True)
    ]
    assert r.fields["nth"] == []
    assert dataset(r) == {
        (ORD, "customer_id", "WINDOW"),
        (ORD, "purchased_at", "WINDOW"),
        (ORD, "order_status", "WINDOW"),
    }


def test_aggregation_through_a_cte_stays_aggregation_and_identity_upstream_composes():
    r = column_lineage(
        """
        with per_customer as (
            select customer_id, count(*) as n, max(purchased_at) as last_at
            from wh.lake.orders group by customer_id
        )
        select c.customer_unique_id, p.n, p.last_at, p.last_at + interval 1 day as next_day
        from per_customer p join wh.lake.customers c on c.customer_id = p.customer_id
        """,
        SCHEMAS,
    )
    assert kinds(r, "n") == set()  # count(*) reads no column
    assert kinds(r, "last_at") == {(ORD, "purchased_at", "DIRECT", "AGGREGATION")}
    assert kinds(r, "next_day") == {(ORD, "purchased_at", "DIRECT", "AGGREGATION")}
    assert (ORD, "customer_id", "GROUP_BY") in dataset(r)
    assert (ORD, "customer_id", "JOIN") in dataset(r)


def test_union_branches_and_filtering_subqueries():
    r = column_lineage(
        """
        select order_id as id from wh.lake.orders where customer_id in (
            select customer_id from wh.lake.customers where customer_state = 'SP')
        union all
        select order_id from wh.lake.items
        """,
        SCHEMAS,
    )
    assert r.columns == ["id"]
    assert kinds(r, "id") == {
        (ORD, "order_id", "DIRECT", "IDENTITY"),
        (ITM, "order_id", "DIRECT", "IDENTITY"),
    }
    assert {
        (ORD, "customer_id", "FILTER"),
        (CUS, "customer_id", "FILTER"),
        (CUS, "customer_state", "FILTER"),
    } <= dataset(r)


def test_unparsable_sql_is_a_clear_error():
    with pytest.raises(SqlLineageError, match="cannot parse"):
        column_lineage("select from where (", SCHEMAS)
    with pytest.raises(SqlLineageError, match="not a query"):
        column_lineage("create table x (a int)", SCHEMAS)
