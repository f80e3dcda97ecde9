-- One row per order purchased before as_of, with what was known about it at as_of
-- (rules: macros/point_in_time.sql). Money in BRL.
-- Two tables joined once: int_orders_as_of (order and customer) and int_order_line_totals
-- (items, payments, reviews per order). One large hash join per query: at 10M order items
-- more in one query ran out of memory at 3GB (BENCHMARKS.md).
select
    orders.*,
    coalesce(per_order.item_count, 0) as item_count,
    cast(coalesce(per_order.items_value, 0) as decimal(18, 2)) as items_value,
    cast(coalesce(per_order.freight_value, 0) as decimal(18, 2)) as freight_value,
    cast(coalesce(per_order.items_value, 0) + coalesce(per_order.freight_value, 0) as decimal(18, 2)) as order_value,
    coalesce(per_order.payment_count, 0) as payment_count,
    cast(coalesce(per_order.payment_value, 0) as decimal(18, 2)) as payment_value,
    cast(coalesce(per_order.credit_card_value, 0) as decimal(18, 2)) as credit_card_value,
    cast(coalesce(per_order.boleto_value, 0) as decimal(18, 2)) as boleto_value,
    cast(coalesce(per_order.voucher_value, 0) as decimal(18, 2)) as voucher_value,
    cast(coalesce(per_order.debit_card_value, 0) as decimal(18, 2)) as debit_card_value,
    per_order.max_installments,
    coalesce(per_order.max_installments > 1, false) as uses_installments,
    coalesce(per_order.review_count, 0) as review_count,
    coalesce(per_order.review_score_sum, 0) as review_score_sum,
    per_order.review_score
from {{ ref('int_orders_as_of') }} as orders
left join {{ ref('int_order_line_totals') }} as per_order
    on orders.order_id = per_order.order_id
