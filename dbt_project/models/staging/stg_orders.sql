with source as (
    select * from {{ source('lake', 'orders') }}
),

renamed as (
    select
        order_id,
        customer_id as customer_token,
        order_status,
        order_purchase_timestamp as purchased_at,
        order_approved_at as approved_at,
        order_delivered_carrier_date as handed_to_carrier_at,
        order_delivered_customer_date as delivered_at,
        order_estimated_delivery_date as estimated_delivery_at,
        _partition,
        _dataset_version
    from source
)

select * from renamed
