with deduplicated as (
    {{ deduplicate_latest(source('raw', 'polymarket__market'), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        market_id,
        condition_id,
        slug as market_slug,
        question,
        end_date as end_ts,
        outcomes,
        yes_token_id,
        no_token_id,
        -- Gamma's outcomePrices[Yes] when the nightly snapshot was taken (just after the day's end).
        cast(yes_price as double) as yes_price,
        cast(volume_usd as double) as volume_usd,
        cast(liquidity_usd as double) as liquidity_usd,
        active as is_active,
        closed as is_closed,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
