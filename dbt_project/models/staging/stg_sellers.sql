-- Sellers are businesses: their zip code prefix is not personal data (see the contract). The
-- city, typed by the seller, is free text (scrubbed in the lake) and not selected: no feature
-- needs it (data minimisation).
with source as (
    select * from {{ source('lake', 'sellers') }}
),

renamed as (
    select
        seller_id,
        seller_zip_code_prefix as seller_zip5,
        left(seller_zip_code_prefix, 3) || 'xx' as seller_zip3,
        seller_state,
        _partition,
        _source_row,
        _dataset_version
    from source
)

select * from renamed
