-- One row per order purchased before as_of, with what was known about it at as_of
-- (rules: macros/point_in_time.sql). Money in BRL.
with orders as (
    select * from {{ ref('stg_orders') }}
    where purchased_at < {{ as_of_ts() }}
),

customers as (
    select customer_token, customer_unique_token, customer_zip3, customer_state
    from {{ ref('stg_customers') }}
),

items as (
    select
        order_id,
        count(*) as item_count,
        sum(price) as items_value,
        sum(freight_value) as freight_value
    from {{ ref('stg_order_items') }}
    group by order_id
),

payments as (
    select
        order_id,
        count(*) as payment_count,
        sum(payment_value) as payment_value,
        coalesce(sum(payment_value) filter (where payment_type = 'credit_card'), 0) as credit_card_value,
        coalesce(sum(payment_value) filter (where payment_type = 'boleto'), 0) as boleto_value,
        coalesce(sum(payment_value) filter (where payment_type = 'voucher'), 0) as voucher_value,
        coalesce(sum(payment_value) filter (where payment_type = 'debit_card'), 0) as debit_card_value,
        max(payment_installments) as max_installments
    from {{ ref('stg_order_payments') }}
    group by order_id
),

reviews as (
    -- only reviews answered before as_of: the score is known from its answer time
    select
        order_id,
        count(*) as review_count,
        sum(review_score) as review_score_sum,
        arg_max(review_score, row(review_answered_at, review_id)) as review_score
    from {{ ref('stg_order_reviews') }}
    where review_answered_at < {{ as_of_ts() }}
    group by order_id
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
),

facts as (
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
        date_diff('second', known.purchased_at, known.delivered_at) / 86400.0 as delivery_days,
        coalesce(items.item_count, 0) as item_count,
        cast(coalesce(items.items_value, 0) as decimal(18, 2)) as items_value,
        cast(coalesce(items.freight_value, 0) as decimal(18, 2)) as freight_value,
        cast(coalesce(items.items_value, 0) + coalesce(items.freight_value, 0) as decimal(18, 2)) as order_value,
        coalesce(payments.payment_count, 0) as payment_count,
        cast(coalesce(payments.payment_value, 0) as decimal(18, 2)) as payment_value,
        cast(coalesce(payments.credit_card_value, 0) as decimal(18, 2)) as credit_card_value,
        cast(coalesce(payments.boleto_value, 0) as decimal(18, 2)) as boleto_value,
        cast(coalesce(payments.voucher_value, 0) as decimal(18, 2)) as voucher_value,
        cast(coalesce(payments.debit_card_value, 0) as decimal(18, 2)) as debit_card_value,
        payments.max_installments,
        coalesce(payments.max_installments > 1, false) as uses_installments,
        coalesce(reviews.review_count, 0) as review_count,
        coalesce(reviews.review_score_sum, 0) as review_score_sum,
        reviews.review_score
    from known
    left join customers on known.customer_token = customers.customer_token
    left join items on known.order_id = items.order_id
    left join payments on known.order_id = payments.order_id
    left join reviews on known.order_id = reviews.order_id
)

select * from facts
