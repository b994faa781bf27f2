with deduplicated as (
    {{ deduplicate_latest(source('raw', 'binance__spot_klines_1d'), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        'binance' as exchange,
        'BTCUSDT' as symbol,
        open_time,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(volume_btc as double) as volume_btc,
        cast(quote_volume_usdt as double) as volume_usd,
        trades,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
