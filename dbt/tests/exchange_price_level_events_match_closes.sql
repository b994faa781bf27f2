-- The level events must be exactly the crossings of the consolidated closes of consecutive days: an event whose
-- closes do not straddle its level, or a crossing without its event, means a stale or missing row (the table is
-- sparse, so an incremental rebuild that forgot to clear a day would leave a break that never happened), and
-- the report's "fell below $92,000" would be wrong.
{{ config(meta={'dagster': {'ref': {'name': 'fct_price_level_events'}}}) }}  {#- the Dagster asset check's asset -#}

with prices as (
    select date, close, lag(date) over (order by date) as previous_date, lag(close) over (order by date) as previous_close
    from {{ ref('fct_btc_price_daily') }}
),

expected as (
    select p.date, l.level_usd, case when p.close < l.level_usd then 'break_down' else 'break_up' end as direction
    from prices as p
    cross join {{ ref('price_levels') }} as l
    where p.previous_date = p.date - interval 1 day
      and {{ in_any_rewritten_day('p.date') }}
      and ((p.previous_close >= l.level_usd and p.close < l.level_usd)
        or (p.previous_close < l.level_usd and p.close >= l.level_usd))
),

actual as (
    select date, level_usd, direction from {{ ref('fct_price_level_events') }} where {{ in_any_rewritten_day('date') }}
),

missing as (
    select *, 'missing' as problem from (select * from expected except select * from actual)
),

unexpected as (
    select *, 'unexpected' as problem from (select * from actual except select * from expected)
)

select * from missing
union all
select * from unexpected
