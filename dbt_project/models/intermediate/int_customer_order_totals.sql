-- Per person (pseudonymized customer_unique_id) with an order placed before as_of: the order
-- counts, spend, payment mix, reviews and delivery outcomes of customer_features, and the
-- state of the latest order. A table of its own, so customer_features joins it with one
-- large table at a time: at 10M order items its joins in one query ran out of memory at 3GB
-- (BENCHMARKS.md). Orders known to be canceled count in canceled_orders and reviews only.
select
    customer_unique_token,
    count(*) filter (where not is_canceled) as orders,
    count(*) filter (where is_canceled) as canceled_orders,
    coalesce(sum(order_value) filter (where not is_canceled), 0) as spend,
    min(purchased_at) as first_purchase_at,
    max(purchased_at) as last_purchase_at,
    count(*) filter (
        where not is_canceled and purchased_at >= {{ as_of_ts() }} - interval 90 day
    ) as orders_90d,
    sum(payment_value) filter (where not is_canceled) as payment_value,
    sum(credit_card_value) filter (where not is_canceled) as credit_card_value,
    sum(boleto_value) filter (where not is_canceled) as boleto_value,
    sum(voucher_value) filter (where not is_canceled) as voucher_value,
    sum(debit_card_value) filter (where not is_canceled) as debit_card_value,
    count(*) filter (where not is_canceled and uses_installments) as installment_orders,
    avg(max_installments) filter (where not is_canceled) as avg_installments,
    sum(review_count) as review_count,
    sum(review_score_sum) as review_score_sum,
    count(*) filter (where has_delivery_outcome) as delivery_outcomes,
    count(*) filter (where is_late) as late_deliveries,
    arg_max(customer_state, row(purchased_at, order_id)) as customer_state
from {{ ref('int_order_facts') }}
where customer_unique_token is not null
group by customer_unique_token
