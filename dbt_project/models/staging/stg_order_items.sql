with source as (
    select * from {{ source('lake', 'order_items') }}
),

renamed as (
    select
        order_id,
        order_item_id,
        product_id,
        seller_id,
        shipping_limit_date as shipping_limit_at,
        price,
        freight_value,
        _partition,
        _dataset_version
    from source
)

select * from renamed
