-- The release: the lake partitions this build reads (registered by register_lake).
with source as (
    select * from {{ source('lake', 'partitions') }}
),

renamed as (
    select
        table_name,
        partition,
        interval_start,
        interval_end,
        dataset_version,
        run_id as ingest_run_id,
        contract_version,
        rows_loaded
    from source
)

select * from renamed
