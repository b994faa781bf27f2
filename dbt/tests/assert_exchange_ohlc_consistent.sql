-- Each exchange's candle must satisfy high >= max(open, close) >= min(open, close) >= low > 0:
-- a violation means the source sent an impossible candle (or a parser mixed up Coinbase's low/high order).
with candles as (
    select date, exchange, open, high, low, close from {{ ref('stg_binance__spot_klines_1d') }}
    union all
    select date, exchange, open, high, low, close from {{ ref('stg_coinbase__spot_candles_1d') }}
)

select *
from candles
where high < greatest(open, close) or low > least(open, close) or low <= 0
