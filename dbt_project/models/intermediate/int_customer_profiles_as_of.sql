-- Customer demographics as known at as_of: profiles from partitions whose interval started
-- before as_of; the latest per person wins. Only the age band and gender (no contact data).
with partitions as (
    select partition, interval_start
    from {{ ref('stg_lake_partitions') }}
    where table_name = 'customer_profiles' and interval_start < {{ as_of_ts() }}
),

known as (
    select
        profiles.customer_unique_token,
        profiles.age_band,
        profiles.gender,
        partitions.interval_start as known_from,
        profiles._source_row
    from {{ ref('stg_customer_profiles') }} as profiles
    inner join partitions on profiles._partition = partitions.partition
)

select
    customer_unique_token,
    age_band,
    gender,
    known_from
from known
qualify row_number() over (
    partition by customer_unique_token order by known_from desc, _source_row desc
) = 1
