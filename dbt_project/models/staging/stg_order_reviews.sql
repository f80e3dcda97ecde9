-- Review outcomes only: the free-text title and message (scrubbed in the lake) are not
-- selected here or anywhere downstream.
with source as (
    select * from {{ source('lake', 'order_reviews') }}
),

renamed as (
    select
        review_id,
        order_id,
        review_score,
        review_creation_date as review_created_at,
        review_answer_timestamp as review_answered_at,
        _partition,
        _dataset_version
    from source
)

select * from renamed
