-- Customer recency, frequency and monetary value as of a date: your own feature mart.
-- Point in time: only invoice lines issued before as_of_date 00:00 UTC count. Returns (a
-- negative quantity, usually on a C invoice) are counted apart and reduce the monetary value;
-- guest lines (no customer id) are left out. The key is the pseudonymized customer id.
with lines as (
    select
        customer_id,
        invoice_no,
        invoice_date,
        cast(quantity * unit_price as decimal(18, 2)) as line_value,
        quantity < 0 as is_return
    from {{ source('lake', 'invoice_lines') }}
    where customer_id is not null
      and invoice_date < {{ as_of_ts() }}
),

per_customer as (
    select
        customer_id,
        count(distinct invoice_no) filter (where not is_return) as frequency,
        count(distinct invoice_no) filter (where is_return) as returns,
        coalesce(sum(line_value) filter (where not is_return), 0) as gross_spend,
        coalesce(-sum(line_value) filter (where is_return), 0) as returned_value,
        max(invoice_date) filter (where not is_return) as last_purchase_at,
        min(invoice_date) as first_seen_at
    from lines
    group by customer_id
)

select
    customer_id,
    {{ as_of_date() }} as as_of_date,
    cast(date_diff('day', cast(last_purchase_at as date), {{ as_of_date() }}) as bigint) as recency_days,
    cast(date_diff('day', cast(first_seen_at as date), {{ as_of_date() }}) as bigint) as tenure_days,
    frequency,
    returns,
    cast(gross_spend as decimal(18, 2)) as gross_spend,
    cast(returned_value as decimal(18, 2)) as returned_value,
    cast(gross_spend - returned_value as decimal(18, 2)) as monetary,
    {{ release_columns() }}
from per_customer
