-- Sellers as known at as_of: rows from partitions whose interval started before as_of; the
-- latest row per seller wins.
with partitions as (
    select partition, interval_start
    from {{ ref('stg_lake_partitions') }}
    where table_name = 'sellers' and interval_start < {{ as_of_ts() }}
),

known as (
    select
        sellers.seller_id,
        sellers.seller_zip3,
        sellers.seller_state,
        partitions.interval_start as known_from,
        sellers._source_row
    from {{ ref('stg_sellers') }} as sellers
    inner join partitions on sellers._partition = partitions.partition
)

select
    seller_id,
    seller_zip3,
    seller_state,
    known_from
from known
qualify row_number() over (
    partition by seller_id order by known_from desc, _source_row desc
) = 1
