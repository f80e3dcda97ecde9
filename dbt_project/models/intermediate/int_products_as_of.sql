-- The product catalogue as known at as_of: rows from partitions whose interval started
-- before as_of; the latest row per product wins.
with partitions as (
    select partition, interval_start
    from {{ ref('stg_lake_partitions') }}
    where table_name = 'products' and interval_start < {{ as_of_ts() }}
),

known as (
    select
        products.product_id,
        products.category,
        products.name_length,
        products.description_length,
        products.photos,
        products.weight_g,
        products.length_cm,
        products.height_cm,
        products.width_cm,
        partitions.interval_start as known_from,
        products._source_row
    from {{ ref('stg_products') }} as products
    inner join partitions on products._partition = partitions.partition
)

select
    product_id,
    category,
    name_length,
    description_length,
    photos,
    weight_g,
    length_cm,
    height_cm,
    width_cm,
    known_from
from known
qualify row_number() over (
    partition by product_id order by known_from desc, _source_row desc
) = 1
