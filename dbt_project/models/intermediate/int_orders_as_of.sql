-- One row per order purchased before as_of, with its status and delivery as known at as_of
-- and its customer's attributes (rules: macros/point_in_time.sql). A table of its own, so
-- int_order_facts joins it with one per-order aggregate only: at 10M order items several
-- large hash joins in one DuckDB pipeline ran out of memory (BENCHMARKS.md).
with orders as (
    select * from {{ ref('stg_orders') }}
    where purchased_at < {{ as_of_ts() }}
),

customers as (
    select customer_token, customer_unique_token, customer_zip3, customer_state
    from {{ ref('stg_customers') }}
),

known as (
    select
        orders.order_id,
        orders.customer_token,
        orders.purchased_at,
        orders.estimated_delivery_at,
        case when orders.delivered_at < {{ as_of_ts() }} then orders.delivered_at end as delivered_at,
        orders.approved_at < {{ as_of_ts() }} as approved_known,
        orders.handed_to_carrier_at < {{ as_of_ts() }} as handed_known,
        coalesce(orders.delivered_at < {{ as_of_ts() }}, false) as is_delivered,
        coalesce(
            orders.order_status in ('canceled', 'unavailable')
            and orders.estimated_delivery_at < {{ as_of_ts() }},
            false
        ) as is_canceled,
        coalesce(orders.estimated_delivery_at < {{ as_of_ts() }}, false) as estimate_passed
    from orders
)

select
    known.order_id,
    customers.customer_unique_token,
    customers.customer_zip3,
    customers.customer_state,
    known.purchased_at,
    known.estimated_delivery_at,
    known.delivered_at,
    case
        when known.is_canceled then 'canceled'
        when known.is_delivered then 'delivered'
        when coalesce(known.handed_known, false) then 'shipped'
        when coalesce(known.approved_known, false) then 'approved'
        else 'created'
    end as status_as_of,
    known.is_delivered,
    known.is_canceled,
    not known.is_canceled and (known.is_delivered or known.estimate_passed) as has_delivery_outcome,
    coalesce(
        not known.is_canceled and (
            (known.is_delivered and known.delivered_at > known.estimated_delivery_at)
            or (not known.is_delivered and known.estimate_passed)
        ),
        false
    ) as is_late,
    -- whole seconds (BIGINT), so averages over orders are exact and the same on every run
    date_diff('second', known.estimated_delivery_at, known.delivered_at) as delivery_delay_seconds,
    date_diff('second', known.estimated_delivery_at, known.delivered_at) / 86400.0 as delivery_delay_days,
    date_diff('second', known.purchased_at, known.delivered_at) / 86400.0 as delivery_days
from known
left join customers on known.customer_token = customers.customer_token
