{#- Open interest of day D is its END-of-day value (00:00 UTC of D + 1), so that a day's open-interest drop sits on
    the same row as its liquidations and price fall; its change is end minus start (D 00:00).
    Binance, OKX and Bybit's open_interest_day datasets keep both instants in partition D (the request for D asks
    through the next midnight, fetched once D is over): the newest day's change is known from its own partition.
    Bybit's older open_interest_1d keeps only the start (the row stamped D 00:00): for a day whose
    open_interest_day partition is absent (a warehouse archived before it existed), the end-of-day value is read
    from open_interest_1d's partition D + 1 as before. So a run over [min_date, max_date) reads
    [min_date - 1, max_date + 1) and rewrites [min_date - 1, max_date): lookback 1, read-lookahead 1.
    USD: Binance and OKX value their open interest themselves (sumOpenInterestValue, oiUsd, at the instant);
    Bybit's BTC is valued at the day's consolidated prices (start at the open, end at the close of D). -#}
{{ config(unique_key=['date', 'exchange']) }}

with funding as (
    select date, funding_time_ms, funding_rate
    from {{ ref('stg_binance__funding_rate') }}
    where {{ in_window('date', 1) }}
),

top_traders as (
    select date, long_short_ratio, long_account_share
    from {{ ref('stg_binance__top_trader_long_short_ratio') }}
    where {{ in_window('date', 1) }}
),

all_accounts as (
    select date, long_short_ratio, long_account_share
    from {{ ref('stg_binance__global_long_short_ratio') }}
    where {{ in_window('date', 1) }}
),

top_positions as (
    select date, long_short_ratio, long_account_share as long_position_share
    from {{ ref('stg_binance__top_trader_position_ratio') }}
    where {{ in_window('date', 1) }}
),

taker as (
    select date, taker_buy_volume_btc, taker_sell_volume_btc, taker_buy_sell_ratio
    from {{ ref('stg_binance__taker_volume') }}
    where {{ in_window('date', 1) }}
),

open_interest_days as (
    select date, exchange, open_interest_start_btc, open_interest_end_btc, open_interest_start_usd,
        open_interest_end_usd
    from {{ ref('stg_binance__open_interest_day') }}
    where {{ in_window('date', 1) }}
    union all
    select date, exchange, open_interest_start_btc, open_interest_end_btc, open_interest_start_usd,
        open_interest_end_usd
    from {{ ref('stg_bybit__open_interest_day') }}
    where {{ in_window('date', 1) }}
    union all
    select date, exchange, open_interest_start_btc, open_interest_end_btc, open_interest_start_usd,
        open_interest_end_usd
    from {{ ref('stg_okx__open_interest_day') }}
    where {{ in_window('date', 1) }}
),

bybit_start_of_day as (
    select date, open_interest_btc
    from {{ ref('stg_bybit__open_interest_1d') }}
    where {{ in_window('date', 1) }} or {{ in_rebuild_window('date', 1) }}
),

prices as (
    select date, open, close
    from {{ ref('fct_btc_price_daily') }}
    where {{ in_window('date', 1) }}
),

funding_daily as (
    select
        date,
        -- The day's 8-hourly rates added up: what a position held all day paid (positive: longs pay shorts).
        -- In time order: a sum of doubles depends on the order of its terms, and the order rows are scanned in is
        -- not fixed (a DuckLake's Parquet files, parallel scans): the same rates must give the same bits.
        sum(funding_rate order by funding_time_ms) as funding_rate_daily,
        count(*) as funding_prints
    from funding
    group by date
),

bybit_legacy as (
    -- Bybit days known only from open_interest_1d: the start is the day's row, the end the next day's.
    select
        day_start.date,
        'bybit' as exchange,
        day_start.open_interest_btc as open_interest_start_btc,
        day_end.open_interest_btc as open_interest_end_btc,
        cast(null as double) as open_interest_start_usd,
        cast(null as double) as open_interest_end_usd
    from bybit_start_of_day as day_start
    left join bybit_start_of_day as day_end on day_end.date = day_start.date + interval 1 day
    where {{ in_window('day_start.date', 1) }}
        and not exists (
            select 1 from open_interest_days as o where o.exchange = 'bybit' and o.date = day_start.date
        )
),

open_interest as (
    select
        o.date,
        o.exchange,
        o.open_interest_start_btc,
        o.open_interest_end_btc,
        -- Bybit serves BTC only: valued at the day's consolidated open (start) and close (end).
        case when o.exchange = 'bybit' then o.open_interest_start_btc * p.open else o.open_interest_start_usd end
            as open_interest_start_usd,
        case when o.exchange = 'bybit' then o.open_interest_end_btc * p.close else o.open_interest_end_usd end
            as open_interest_end_usd,
        case when o.exchange = 'bybit' then 'consolidated_price' else 'exchange' end as open_interest_usd_basis
    from (select * from open_interest_days union all select * from bybit_legacy) as o
    left join prices as p on p.date = o.date
),

binance_days as (
    select date from funding_daily
    union
    select date from top_traders
    union
    select date from all_accounts
    union
    select date from top_positions
    union
    select date from taker
    union
    select date from open_interest where exchange = 'binance'
),

binance as (
    select
        d.date,
        'binance' as exchange,
        f.funding_rate_daily,
        f.funding_prints,
        t.long_short_ratio as top_trader_long_short_ratio,
        a.long_short_ratio as global_long_short_ratio,
        t.long_account_share as top_trader_long_account_share,
        a.long_account_share as global_long_account_share,
        tp.long_short_ratio as top_trader_position_ratio,
        tp.long_position_share as top_trader_long_position_share,
        tv.taker_buy_volume_btc,
        tv.taker_sell_volume_btc,
        tv.taker_buy_sell_ratio
    from binance_days as d
    left join funding_daily as f on f.date = d.date
    left join top_traders as t on t.date = d.date
    left join all_accounts as a on a.date = d.date
    left join top_positions as tp on tp.date = d.date
    left join taker as tv on tv.date = d.date
),

others as (
    -- A row per Bybit or OKX day with open interest.
    select distinct date, exchange
    from open_interest
    where exchange <> 'binance'
),

exchanges as (
    select
        b.*,
        oi.open_interest_start_btc,
        oi.open_interest_end_btc,
        oi.open_interest_start_usd,
        oi.open_interest_end_usd,
        oi.open_interest_usd_basis
    from binance as b
    left join open_interest as oi on oi.date = b.date and oi.exchange = 'binance'
    union all
    select
        x.date,
        x.exchange,
        cast(null as double) as funding_rate_daily,
        cast(null as bigint) as funding_prints,
        cast(null as double) as top_trader_long_short_ratio,
        cast(null as double) as global_long_short_ratio,
        cast(null as double) as top_trader_long_account_share,
        cast(null as double) as global_long_account_share,
        cast(null as double) as top_trader_position_ratio,
        cast(null as double) as top_trader_long_position_share,
        cast(null as double) as taker_buy_volume_btc,
        cast(null as double) as taker_sell_volume_btc,
        cast(null as double) as taker_buy_sell_ratio,
        oi.open_interest_start_btc,
        oi.open_interest_end_btc,
        oi.open_interest_start_usd,
        oi.open_interest_end_usd,
        oi.open_interest_usd_basis
    from others as x
    inner join open_interest as oi on oi.date = x.date and oi.exchange = x.exchange
),

final as (
    select
        cast(date as date) as date,
        cast(exchange as varchar) as exchange,
        cast(funding_rate_daily as double) as funding_rate_daily,
        cast(funding_prints as integer) as funding_prints,
        cast(open_interest_end_btc as double) as open_interest_btc,
        cast(open_interest_start_btc as double) as open_interest_start_btc,
        cast(open_interest_end_btc - open_interest_start_btc as double) as open_interest_change_btc,
        cast((open_interest_end_btc / nullif(open_interest_start_btc, 0) - 1) * 100 as double)
            as open_interest_change_pct,
        cast(top_trader_long_short_ratio as double) as top_trader_long_short_ratio,
        cast(global_long_short_ratio as double) as global_long_short_ratio,
        cast(top_trader_long_account_share as double) as top_trader_long_account_share,
        cast(global_long_account_share as double) as global_long_account_share,
        cast(top_trader_position_ratio as double) as top_trader_position_ratio,
        cast(top_trader_long_position_share as double) as top_trader_long_position_share,
        cast(taker_buy_volume_btc as double) as taker_buy_volume_btc,
        cast(taker_sell_volume_btc as double) as taker_sell_volume_btc,
        cast(taker_buy_sell_ratio as double) as taker_buy_sell_ratio,
        cast(open_interest_end_usd as double) as open_interest_usd,
        cast(open_interest_start_usd as double) as open_interest_start_usd,
        cast(open_interest_end_usd - open_interest_start_usd as double) as open_interest_change_usd,
        cast((open_interest_end_usd / nullif(open_interest_start_usd, 0) - 1) * 100 as double)
            as open_interest_change_usd_pct,
        cast(open_interest_usd_basis as varchar) as open_interest_usd_basis
    from exchanges
    where {{ in_window('date', 1) }}
)

select * from final
