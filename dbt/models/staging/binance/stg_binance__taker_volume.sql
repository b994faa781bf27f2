with deduplicated as (
    {{ deduplicate_latest(source('raw', 'binance__taker_volume'), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        'binance' as exchange,
        -- Binance's period=1d row stamped 00:00 UTC: the volumes traded during the day (fetched once it is over).
        timestamp as period_start,
        cast(buy_volume_btc as double) as taker_buy_volume_btc,
        cast(sell_volume_btc as double) as taker_sell_volume_btc,
        cast(buy_sell_ratio as double) as taker_buy_sell_ratio,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
