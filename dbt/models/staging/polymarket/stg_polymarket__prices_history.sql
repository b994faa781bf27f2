with deduplicated as (
    {{ deduplicate_latest(source('raw', 'polymarket__prices_history'), ['partition_date', 'point_time']) }}
),

renamed as (
    select
        partition_date as date,
        -- The tracked market's YES token (pipelines/sources/polymarket.py TRACKED_MARKET); the raw rows do not
        -- name it: the marts take the market's identity from the Gamma snapshots.
        point_time,
        cast(yes_price as double) as yes_price,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
