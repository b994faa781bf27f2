-- The 'all' row is what a reader quotes as "liquidated across the market": it must be the sum of the day's
-- exchange rows, and every day with an exchange row must have one (a missing or stale 'all' row would
-- understate a cascade).
with exchanges as (
    select date, sum(total_liquidated_usd) as total_liquidated_usd, sum(orders) as orders, count(*) as exchanges
    from {{ ref('fct_liquidations_daily') }}
    where exchange <> 'all' and {{ in_any_rewritten_day('date') }}
    group by date
),

all_rows as (
    select date, total_liquidated_usd, orders, exchanges
    from {{ ref('fct_liquidations_daily') }}
    where exchange = 'all' and {{ in_any_rewritten_day('date') }}
)

select coalesce(e.date, a.date) as date, e.total_liquidated_usd as sum_of_exchanges, a.total_liquidated_usd as all_row
from exchanges as e
full outer join all_rows as a on a.date = e.date
where a.date is null
   or e.date is null
   or abs(e.total_liquidated_usd - a.total_liquidated_usd) > 1e-6 * greatest(e.total_liquidated_usd, 1)
   or e.orders <> a.orders
   or e.exchanges <> a.exchanges
