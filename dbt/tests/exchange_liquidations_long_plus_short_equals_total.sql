-- Every liquidation is of a long or of a short: long + short must equal the total (added up separately over all
-- orders), per exchange and on the 'all' row. A gap means an order whose side did not map to a position, and the
-- "mostly longs" reading of a flush would rest on a split that leaves money out.
select date, exchange, long_liquidated_usd, short_liquidated_usd, total_liquidated_usd
from {{ ref('fct_liquidations_daily') }}
where (abs(long_liquidated_usd + short_liquidated_usd - total_liquidated_usd) > 1e-6 * greatest(total_liquidated_usd, 1)
   or long_orders + short_orders <> orders)
  and {{ in_any_rewritten_day('date') }}
