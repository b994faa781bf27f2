{{ config(unique_key='date') }}

with binance as (
    select date, exchange, open, high, low, close
    from {{ ref('stg_binance__spot_klines_1d') }}
    where {{ in_window('date') }}
),

coinbase as (
    select date, exchange, open, high, low, close
    from {{ ref('stg_coinbase__spot_candles_1d') }}
    where {{ in_window('date') }}
),

quotes as (
    select * from binance
    union all
    select * from coinbase
),

consolidated as (
    -- The mean of each field across exchanges: a mean preserves high >= open, close >= low per exchange.
    select
        date,
        avg(open) as open,
        avg(high) as high,
        avg(low) as low,
        avg(close) as close,
        count(*) as source_count,
        (max(close) - min(close)) / avg(close) * 100 as max_close_divergence_pct
    from quotes
    group by date
),

final as (
    select
        cast(date as date) as date,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(source_count as integer) as source_count,
        cast(max_close_divergence_pct as double) as max_close_divergence_pct
    from consolidated
)

select * from final
