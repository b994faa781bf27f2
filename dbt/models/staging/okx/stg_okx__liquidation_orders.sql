with deduplicated as (
    -- The feed's de-duplication key (sources.md §2.5), the raw table's key too.
    {{ deduplicate_latest(source('raw', 'okx__liquidation_orders'), ['partition_date', 'inst_id', 'ts', 'side', 'size_contracts', 'bankruptcy_price']) }}
),

renamed as (
    select
        partition_date as date,
        'okx' as exchange,
        ts as liquidated_at,
        inst_id,
        side as order_side,
        pos_side,
        -- The liquidated position follows from the order that closed it: a sell closes a long, a buy a short.
        -- This holds in every position mode, including "net" where pos_side does not say (the parser refuses a
        -- long/short pos_side whose side disagrees).
        case side when 'sell' then 'long' when 'buy' then 'short' end as liquidated_position,
        cast(bankruptcy_price as double) as bankruptcy_price,
        cast(size_contracts as double) as size_contracts,
        cast(size_btc as double) as size_btc,
        -- Valued at the bankruptcy price, the only price the feed gives (not the fill price).
        cast(notional_usd as double) as notional_usd,
        cast(loss as double) as loss_usd,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
