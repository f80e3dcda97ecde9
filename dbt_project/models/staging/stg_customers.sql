-- One row per order-level customer record; identifiers are pseudonymized tokens, the zip code
-- is generalized to 3 digits and the city was dropped at ingestion.
with source as (
    select * from {{ source('lake', 'customers') }}
),

renamed as (
    select
        customer_id as customer_token,
        customer_unique_id as customer_unique_token,
        customer_zip3,
        customer_state,
        _partition,
        _dataset_version
    from source
)

select * from renamed
