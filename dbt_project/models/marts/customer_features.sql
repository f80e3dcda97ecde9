-- Customer features as of var `as_of`, one row per person (pseudonymized customer_unique_id)
-- with at least one order placed before as_of. Orders known to be canceled at as_of count in
-- canceled_orders and review behaviour only; everything else uses the other orders. The
-- per-person aggregate and favourite category are tables of their own
-- (int_customer_order_totals, int_customer_favourite_category): at 10M order items this
-- query joining them as CTEs ran out of memory at 3GB (BENCHMARKS.md).
with per_customer as (
    select * from {{ ref('int_customer_order_totals') }}
),

favourite as (
    select customer_unique_token, favourite_category
    from {{ ref('int_customer_favourite_category') }}
),

profiles as (
    select customer_unique_token, age_band
    from {{ ref('int_customer_profiles_as_of') }}
),

-- k-anonymity by suppression: people whose (state, age band) class holds fewer than k people
-- (config.meta.anonymity.k) are published with both quasi-identifiers '*'. When they are
-- themselves fewer than k, the next smallest classes join them until the '*' class holds k
-- (fewer than k people in all: the gate refuses the release).
qi_people as (
    select per_customer.customer_unique_token, per_customer.customer_state, profiles.age_band
    from per_customer
    left join profiles on per_customer.customer_unique_token = profiles.customer_unique_token
),

qi_sizes as (
    select customer_state, age_band, count(*) as people
    from qi_people
    group by customer_state, age_band
),

qi_ranked as (
    select
        customer_state,
        age_band,
        people,
        sum(people) over (
            order by people, customer_state, age_band
            rows between unbounded preceding and current row
        ) - people as people_before,
        sum(case when people < {{ anonymity_k() }} then people else 0 end) over () as small_people
    from qi_sizes
),

qi_classes as (
    select
        qi_people.customer_unique_token,
        qi_ranked.people < {{ anonymity_k() }}
        or (qi_ranked.small_people > 0 and qi_ranked.people_before < {{ anonymity_k() }})
            as qi_suppressed
    from qi_people
    inner join qi_ranked
        on qi_people.customer_state is not distinct from qi_ranked.customer_state
        and qi_people.age_band is not distinct from qi_ranked.age_band
)

select
    per_customer.customer_unique_token,
    {{ as_of_date() }} as as_of_date,
    per_customer.orders,
    per_customer.canceled_orders,
    cast(per_customer.spend as decimal(18, 2)) as spend,
    {{ safe_ratio('per_customer.spend', 'per_customer.orders') }} as avg_order_value,
    date_diff('day', cast(per_customer.last_purchase_at as date), {{ as_of_date() }}) as recency_days,
    per_customer.orders_90d as frequency_90d,
    date_diff('day', cast(per_customer.first_purchase_at as date), {{ as_of_date() }}) as tenure_days,
    favourite.favourite_category,
    {{ safe_ratio('per_customer.credit_card_value', 'per_customer.payment_value') }} as credit_card_share,
    {{ safe_ratio('per_customer.boleto_value', 'per_customer.payment_value') }} as boleto_share,
    {{ safe_ratio('per_customer.voucher_value', 'per_customer.payment_value') }} as voucher_share,
    {{ safe_ratio('per_customer.debit_card_value', 'per_customer.payment_value') }} as debit_card_share,
    {{ safe_ratio('per_customer.installment_orders', 'per_customer.orders') }} as installment_order_share,
    cast(per_customer.avg_installments as double) as avg_installments,
    cast(per_customer.review_count as bigint) as review_count,
    {{ safe_ratio('per_customer.review_score_sum', 'per_customer.review_count') }} as avg_review_score,
    per_customer.delivery_outcomes,
    {{ safe_ratio('per_customer.late_deliveries', 'per_customer.delivery_outcomes') }} as late_delivery_share,
    case when qi_classes.qi_suppressed then '*' else per_customer.customer_state end as customer_state,
    case when qi_classes.qi_suppressed then '*' else profiles.age_band end as age_band,
    {{ release_columns() }}
from per_customer
left join favourite on per_customer.customer_unique_token = favourite.customer_unique_token
left join profiles on per_customer.customer_unique_token = profiles.customer_unique_token
left join qi_classes on per_customer.customer_unique_token = qi_classes.customer_unique_token
