-- Synthetic identity profiles, minimised: only the pseudonymized person key and the
-- generalized/kept demographics. The encrypted contact columns (email, phone) are not
-- selected here or anywhere downstream (name and street address never reached the lake).
with source as (
    select * from {{ source('lake', 'customer_profiles') }}
),

renamed as (
    select
        customer_unique_id as customer_unique_token,
        age_band,
        gender,
        _partition,
        _source_row,
        _dataset_version
    from source
)

select * from renamed
