-- Each day's volatility-index candle must satisfy high >= max(open, close) >= min(open, close) >= low: a
-- violation means Deribit sent an impossible candle or its fields were read in the wrong order (the wire order is
-- timestamp, open, high, low, close).
select date, currency, open, high, low, close
from {{ ref('fct_dvol_daily') }}
where (high < greatest(open, close) or low > least(open, close))
  and {{ in_any_rewritten_day('date') }}
