with deduplicated as (
    {{ deduplicate_latest(source('raw', 'blockchain_com__miners_revenue'), ['partition_date']) }}
),

renamed as (
    select
        -- Labelled, like the hash-rate chart, by the midnight that STARTS the day: the parser kept the point
        -- labelled partition_date 00:00, so `date` is the day whose blocks earned the revenue.
        partition_date as date,
        point_time,
        cast(revenue_usd as double) as revenue_usd,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
