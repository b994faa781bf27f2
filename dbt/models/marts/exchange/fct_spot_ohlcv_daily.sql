{{ config(unique_key=['date', 'exchange']) }}

with binance as (
    select date, exchange, symbol, open, high, low, close, volume_btc, volume_usd, false as volume_usd_is_estimate
    from {{ ref('stg_binance__spot_klines_1d') }}
    where {{ in_window('date') }}
),

coinbase as (
    -- Coinbase reports no quote volume: staging estimates it from the day's mean price.
    select date, exchange, symbol, open, high, low, close, volume_btc, volume_usd, true as volume_usd_is_estimate
    from {{ ref('stg_coinbase__spot_candles_1d') }}
    where {{ in_window('date') }}
),

candles as (
    select * from binance
    union all
    select * from coinbase
),

with_deviation as (
    select
        *,
        -- How far this exchange's close is from the mean close of the exchanges that day (the consolidated close).
        (close / avg(close) over (partition by date) - 1) * 100 as close_deviation_pct
    from candles
),

final as (
    select
        cast(date as date) as date,
        cast(exchange as varchar) as exchange,
        cast(symbol as varchar) as symbol,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(volume_btc as double) as volume_btc,
        cast(volume_usd as double) as volume_usd,
        cast(volume_usd_is_estimate as boolean) as volume_usd_is_estimate,
        cast(close_deviation_pct as double) as close_deviation_pct
    from with_deviation
)

select * from final
