-- Per person: the category with the most items bought in orders not known to be canceled
-- at as_of (ties by value, then name). A table of its own, so customer_features joins it
-- with one large table at a time (BENCHMARKS.md, 10M).
with category_items as (
    select
        customer_unique_token,
        category,
        count(*) as items,
        sum(price) as value
    from {{ ref('int_order_item_facts') }}
    where not is_canceled and category is not null and customer_unique_token is not null
    group by customer_unique_token, category
)

select customer_unique_token, category as favourite_category
from category_items
qualify row_number() over (
    partition by customer_unique_token order by items desc, value desc, category
) = 1
