with source as (
    select * from {{ source('lake', 'order_payments') }}
),

renamed as (
    select
        order_id,
        payment_sequential,
        payment_type,
        payment_installments,
        payment_value,
        _partition,
        _dataset_version
    from source
)

select * from renamed
