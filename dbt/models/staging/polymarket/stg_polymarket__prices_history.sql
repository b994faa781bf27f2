with deduplicated as (
    {{ deduplicate_latest(source('raw', 'polymarket__prices_history'), ['partition_date', 'yes_token_id', 'point_time']) }}
),

renamed as (
    select
        partition_date as date,
        -- The market's YES token (the CLOB's answer does not name it: the request did); the markets staging
        -- model maps it to the market.
        yes_token_id,
        point_time,
        cast(yes_price as double) as yes_price,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
