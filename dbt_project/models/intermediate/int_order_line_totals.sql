-- Per order id: its items, payments and reviews known at as_of (rules:
-- macros/point_in_time.sql), in ONE group by over their union. Money in BRL. A table of its
-- own: joined to int_orders_as_of in int_order_facts, one large hash join per query (at 10M
-- order items, three aggregates joined in one query, and even this aggregate joined in the
-- query that computes it, ran out of memory at 3GB: BENCHMARKS.md).
with lines as (
    select
        order_id,
        1 as item_row,
        price,
        freight_value,
        null as payment_row,
        null as payment_value,
        null as payment_type,
        null as payment_installments,
        null as review_row,
        null as review_score,
        null as review_answered_at,
        null as review_id
    from {{ ref('stg_order_items') }}
    union all
    select
        order_id, null, null, null,
        1, payment_value, payment_type, payment_installments,
        null, null, null, null
    from {{ ref('stg_order_payments') }}
    union all
    -- only reviews answered before as_of: the score is known from its answer time
    select
        order_id, null, null, null,
        null, null, null, null,
        1, review_score, review_answered_at, review_id
    from {{ ref('stg_order_reviews') }}
    where review_answered_at < {{ as_of_ts() }}
),

per_order as (
    select
        order_id,
        count(item_row) as item_count,
        sum(price) as items_value,
        sum(freight_value) as freight_value,
        count(payment_row) as payment_count,
        sum(payment_value) as payment_value,
        coalesce(sum(payment_value) filter (where payment_type = 'credit_card'), 0) as credit_card_value,
        coalesce(sum(payment_value) filter (where payment_type = 'boleto'), 0) as boleto_value,
        coalesce(sum(payment_value) filter (where payment_type = 'voucher'), 0) as voucher_value,
        coalesce(sum(payment_value) filter (where payment_type = 'debit_card'), 0) as debit_card_value,
        max(payment_installments) as max_installments,
        count(review_row) as review_count,
        sum(review_score) as review_score_sum,
        arg_max(review_score, row(review_answered_at, review_id))
            filter (where review_row is not null) as review_score
    from lines
    group by order_id
)

select * from per_order
