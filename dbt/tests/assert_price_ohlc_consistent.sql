-- A consolidated day whose high is below its open/close, or low above them, means a source sent an
-- inconsistent candle or the consolidation is wrong: BI charts would draw impossible bars.
select *
from {{ ref('fct_btc_price_daily') }}
where (high < greatest(open, close) or low > least(open, close) or low <= 0)
  and {{ in_any_rewritten_day('date') }}
