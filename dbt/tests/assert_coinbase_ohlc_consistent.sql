-- Each coinbase candle must satisfy high >= max(open, close) >= min(open, close) >= low > 0:
-- a violation means the source sent an impossible candle (or the parser mixed up the field order).
select date, open, high, low, close
from {{ ref('stg_coinbase__spot_candles_1d') }}
where (high < greatest(open, close) or low > least(open, close) or low <= 0)
  and {{ in_any_rewritten_day('date') }}
