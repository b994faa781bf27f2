{{ config(unique_key=['date', 'hour', 'exchange']) }}

-- Liquidations per UTC hour and venue (plus 'all'), with the hour's stream coverage: "the last 24 hours" is a sum
-- of 24 rows here, or of fct_liquidation_events for any window.

with events as (
    select date, exchange, date_trunc('hour', liquidated_at) as hour, liquidated_position, size_btc, notional_usd,
           order_key
    from {{ ref('fct_liquidation_events') }}
    where {{ in_window('date') }}
),

hours as (
    select date, exchange, hour, covered_s
    from {{ ref('stg_liquidation_stream__hours') }}
    where {{ in_window('date') }}
),

per_exchange as (
    select
        date,
        hour,
        exchange,
{{ liquidation_sums() }}
    from events
    group by date, hour, exchange
),

with_coverage as (
    select p.*, h.covered_s as stream_covered_s
    from per_exchange as p
    left join hours as h on h.date = p.date and h.exchange = p.exchange and h.hour = p.hour
),

all_exchanges as (
    select
        date,
        hour,
        'all' as exchange,
{{ liquidation_sums_over_exchanges() }},
        -- The least covered venue's seconds: the total is only as complete as its least covered part.
        min(stream_covered_s) as stream_covered_s
    from with_coverage
    group by date, hour
),

combined as (
    select * from with_coverage
    union all by name
    select * from all_exchanges
)

select
    cast(date as date) as date,
    cast(hour as timestamp) as hour,
    cast(exchange as varchar) as exchange,
    cast(long_liquidated_usd as double) as long_liquidated_usd,
    cast(short_liquidated_usd as double) as short_liquidated_usd,
    cast(total_liquidated_usd as double) as total_liquidated_usd,
    cast(long_liquidated_btc as double) as long_liquidated_btc,
    cast(short_liquidated_btc as double) as short_liquidated_btc,
    cast(orders as integer) as orders,
    cast(largest_order_usd as double) as largest_order_usd,
    cast(stream_covered_s as double) as stream_covered_s
from combined
