-- Product features as of var `as_of`, one row per product known at as_of or sold before it.
-- Sales (units, velocity, revenue) exclude orders known to be canceled at as_of; prices,
-- reviews and the cancel rate use every order placed before as_of.
with items as (
    select * from {{ ref('int_order_item_facts') }}
),

product_orders as (
    -- one row per product and order: order-level outcomes count once per product
    select
        product_id,
        order_id,
        any_value(is_canceled) as is_canceled,
        any_value(is_delivered) as is_delivered,
        any_value(has_delivery_outcome) as has_delivery_outcome,
        any_value(review_count) as review_count,
        any_value(review_score) as review_score
    from items
    group by product_id, order_id
),

item_stats as (
    select
        product_id,
        count(*) filter (where not is_canceled) as units_sold,
        count(*) filter (
            where not is_canceled and purchased_at >= {{ as_of_ts() }} - interval 30 day
        ) as units_30d,
        count(*) filter (
            where not is_canceled and purchased_at >= {{ as_of_ts() }} - interval 90 day
        ) as units_90d,
        coalesce(sum(price) filter (where not is_canceled), 0) as revenue,
        avg(price) as price_mean,
        min(price) as price_min,
        max(price) as price_max,
        -- sample standard deviation from exact integer sums of cents: the same on every run
        -- (stddev_samp merges partial results in thread order)
        case when count(*) > 1 then
            sqrt(
                cast(count(*) * sum(cast(price * 100 as bigint) * cast(price * 100 as bigint))
                    - sum(cast(price * 100 as bigint)) * sum(cast(price * 100 as bigint)) as double)
                / (count(*) * (count(*) - 1))
            ) / 100
        end as price_stddev,
        {{ safe_ratio('sum(freight_value)', 'sum(price) + sum(freight_value)') }} as freight_share,
        max(purchased_at) as last_sold_at
    from items
    group by product_id
),

order_stats as (
    select
        product_id,
        count(*) filter (where not is_canceled) as orders,
        count(*) filter (where is_canceled) as canceled_orders,
        count(*) filter (where is_canceled or has_delivery_outcome) as settled_orders,
        count(*) filter (where review_score is not null) as reviewed_orders,
        avg(review_score) as review_score_mean,
        count(*) filter (where review_score = 1) as score_1,
        count(*) filter (where review_score = 2) as score_2,
        count(*) filter (where review_score = 3) as score_3,
        count(*) filter (where review_score = 4) as score_4,
        count(*) filter (where review_score = 5) as score_5
    from product_orders
    group by product_id
),

catalogue as (
    select product_id, category
    from {{ ref('int_products_as_of') }}
),

base as (
    select coalesce(catalogue.product_id, item_stats.product_id) as product_id, catalogue.category
    from catalogue
    full outer join item_stats on catalogue.product_id = item_stats.product_id
)

select
    base.product_id,
    {{ as_of_date() }} as as_of_date,
    base.category,
    coalesce(item_stats.units_sold, 0) as units_sold,
    coalesce(order_stats.orders, 0) as orders,
    coalesce(item_stats.units_30d, 0) as units_30d,
    coalesce(item_stats.units_90d, 0) as units_90d,
    cast(coalesce(item_stats.units_30d, 0) as double) / 30 as sales_velocity_30d,
    cast(coalesce(item_stats.units_90d, 0) as double) / 90 as sales_velocity_90d,
    cast(coalesce(item_stats.revenue, 0) as decimal(18, 2)) as revenue,
    cast(item_stats.price_mean as double) as price_mean,
    cast(item_stats.price_min as decimal(12, 2)) as price_min,
    cast(item_stats.price_max as decimal(12, 2)) as price_max,
    cast(item_stats.price_stddev as double) as price_stddev,
    item_stats.freight_share,
    case
        when item_stats.last_sold_at is not null
            then date_diff('day', cast(item_stats.last_sold_at as date), {{ as_of_date() }})
    end as days_since_last_sale,
    coalesce(order_stats.reviewed_orders, 0) as review_count,
    cast(order_stats.review_score_mean as double) as review_score_mean,
    {{ safe_ratio('order_stats.score_1', 'order_stats.reviewed_orders') }} as review_share_1,
    {{ safe_ratio('order_stats.score_2', 'order_stats.reviewed_orders') }} as review_share_2,
    {{ safe_ratio('order_stats.score_3', 'order_stats.reviewed_orders') }} as review_share_3,
    {{ safe_ratio('order_stats.score_4', 'order_stats.reviewed_orders') }} as review_share_4,
    {{ safe_ratio('order_stats.score_5', 'order_stats.reviewed_orders') }} as review_share_5,
    {{ safe_ratio('order_stats.canceled_orders', 'order_stats.settled_orders') }} as cancel_rate,
    {{ release_columns() }}
from base
left join item_stats on base.product_id = item_stats.product_id
left join order_stats on base.product_id = order_stats.product_id
