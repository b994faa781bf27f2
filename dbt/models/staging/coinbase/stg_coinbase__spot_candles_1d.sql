with deduplicated as (
    {{ deduplicate_latest(source('raw', 'coinbase__spot_candles_1d'), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        'coinbase' as exchange,
        'BTC-USD' as symbol,
        bucket_start as open_time,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(volume_btc as double) as volume_btc,
        -- Coinbase reports base volume only; quote volume is approximated with the day's mean price.
        cast(volume_btc * (open + high + low + close) / 4 as double) as volume_usd,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
