with deduplicated as (
    {{ deduplicate_latest(source('raw', 'polymarket__markets'), ['partition_date', 'market_id']) }}
),

renamed as (
    select
        partition_date as date,
        market_id,
        slug as market_slug,
        question,
        condition_id,
        event_slug,
        event_title,
        group_item_title,
        cast(threshold_usd as double) as threshold_usd,
        direction,
        period_start,
        period_end,
        yes_token_id,
        no_token_id,
        -- Gamma's outcomePrices[Yes] when the nightly snapshot was taken (just after the day's end).
        cast(yes_price as double) as yes_price,
        cast(volume_usd as double) as volume_usd,
        cast(liquidity_usd as double) as liquidity_usd,
        active as is_active,
        closed as is_closed,
        listed_at,
        end_date as end_ts,
        resolved_outcome,
        resolved_at,
        headline as is_headline,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
