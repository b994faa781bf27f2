-- The per-exchange candles and the consolidated price must tell the same story: for each day, the exchanges in
-- fct_spot_ohlcv_daily are the ones counted in fct_btc_price_daily and the mean of their closes is its close.
-- A mismatch means one of the two marts is stale for that day, and a chart of both would disagree.
{{ config(meta={'dagster': {'ref': {'name': 'fct_spot_ohlcv_daily'}}}) }}  {#- the Dagster asset check's asset -#}

with spot as (
    select date, count(*) as exchanges, avg(close) as mean_close
    from {{ ref('fct_spot_ohlcv_daily') }}
    where {{ in_any_rewritten_day('date') }}
    group by date
)

select coalesce(s.date, p.date) as date, s.exchanges, p.source_count, s.mean_close, p.close
from spot as s
full outer join (select * from {{ ref('fct_btc_price_daily') }} where {{ in_any_rewritten_day('date') }}) as p on p.date = s.date
where s.date is null
   or p.date is null
   or s.exchanges <> p.source_count
   or abs(s.mean_close - p.close) > 1e-9 * p.close
