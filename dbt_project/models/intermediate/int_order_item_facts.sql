-- One row per item of an order purchased before as_of, with the order's facts as known at
-- as_of and the product's category as known at as_of: the grain of product and seller features.
with items as (
    select order_id, order_item_id, product_id, seller_id, price, freight_value
    from {{ ref('stg_order_items') }}
),

orders as (
    select
        order_id,
        customer_unique_token,
        purchased_at,
        is_delivered,
        is_canceled,
        has_delivery_outcome,
        is_late,
        delivery_delay_seconds,
        review_count,
        review_score
    from {{ ref('int_order_facts') }}
),

products as (
    select product_id, category
    from {{ ref('int_products_as_of') }}
)

select
    items.order_id,
    items.order_item_id,
    items.product_id,
    items.seller_id,
    products.category,
    items.price,
    items.freight_value,
    orders.customer_unique_token,
    orders.purchased_at,
    orders.is_delivered,
    orders.is_canceled,
    orders.has_delivery_outcome,
    orders.is_late,
    orders.delivery_delay_seconds,
    orders.review_count,
    orders.review_score
from items
inner join orders on items.order_id = orders.order_id
left join products on items.product_id = products.product_id
