-- Seller features as of var `as_of`, one row per seller known at as_of or selling before it.
-- Volume and revenue exclude orders known to be canceled at as_of; delivery performance uses
-- orders whose delivery outcome is known at as_of (delivered, or past the estimate).
with items as (
    select * from {{ ref('int_order_item_facts') }}
),

seller_orders as (
    -- one row per seller and order: order-level outcomes count once per seller
    select
        seller_id,
        order_id,
        count(*) as items,
        sum(price) as revenue,
        sum(freight_value) as freight_value,
        any_value(purchased_at) as purchased_at,
        any_value(is_canceled) as is_canceled,
        any_value(is_delivered) as is_delivered,
        any_value(has_delivery_outcome) as has_delivery_outcome,
        any_value(is_late) as is_late,
        any_value(delivery_delay_seconds) as delivery_delay_seconds,
        any_value(review_score) as review_score
    from items
    group by seller_id, order_id
),

stats as (
    select
        seller_id,
        count(*) filter (where not is_canceled) as orders,
        count(*) filter (
            where not is_canceled and purchased_at >= {{ as_of_ts() }} - interval 30 day
        ) as orders_30d,
        coalesce(sum(items) filter (where not is_canceled), 0) as items_sold,
        coalesce(sum(revenue) filter (where not is_canceled), 0) as revenue,
        coalesce(sum(freight_value) filter (where not is_canceled), 0) as freight_value,
        count(*) filter (where is_canceled) as canceled_orders,
        count(*) filter (where is_canceled or has_delivery_outcome) as settled_orders,
        count(*) filter (where is_delivered and not is_canceled) as delivered_orders,
        count(*) filter (where has_delivery_outcome) as delivery_outcomes,
        count(*) filter (where has_delivery_outcome and not is_late) as on_time_deliveries,
        avg(delivery_delay_seconds) filter (where is_delivered and not is_canceled) / 86400.0 as mean_delay_days,
        count(*) filter (where review_score is not null) as review_count,
        avg(review_score) as review_score_mean
    from seller_orders
    group by seller_id
),

sellers as (
    select seller_id, seller_state, seller_zip3
    from {{ ref('int_sellers_as_of') }}
),

base as (
    select coalesce(sellers.seller_id, stats.seller_id) as seller_id, sellers.seller_state, sellers.seller_zip3
    from sellers
    full outer join stats on sellers.seller_id = stats.seller_id
)

select
    base.seller_id,
    {{ as_of_date() }} as as_of_date,
    base.seller_state,
    base.seller_zip3,
    coalesce(stats.orders, 0) as orders,
    coalesce(stats.orders_30d, 0) as orders_30d,
    cast(coalesce(stats.items_sold, 0) as bigint) as items_sold,
    cast(coalesce(stats.revenue, 0) as decimal(18, 2)) as revenue,
    cast(coalesce(stats.freight_value, 0) as decimal(18, 2)) as freight_value,
    coalesce(stats.delivered_orders, 0) as delivered_orders,
    coalesce(stats.delivery_outcomes, 0) as delivery_outcomes,
    {{ safe_ratio('stats.on_time_deliveries', 'stats.delivery_outcomes') }} as on_time_share,
    cast(stats.mean_delay_days as double) as mean_delay_days,
    coalesce(stats.review_count, 0) as review_count,
    cast(stats.review_score_mean as double) as review_score_mean,
    {{ safe_ratio('stats.canceled_orders', 'stats.settled_orders') }} as cancel_rate,
    {{ release_columns() }}
from base
left join stats on base.seller_id = stats.seller_id
