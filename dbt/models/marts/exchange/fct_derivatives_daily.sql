{#- Open interest of day D is its END-of-day value: Bybit's row stamped D + 1 00:00 (partition D + 1), so that a
    day's open-interest drop sits on the same row as its liquidations and price fall. The figures of day D then
    depend on partitions D and D + 1: a run over [min_date, max_date) reads [min_date - 1, max_date + 1) and
    rewrites [min_date - 1, max_date) (the day before the window gets its end-of-day value from the window's
    first partition; the window's last day waits for the next partition). Lookback 1, read-lookahead 1. -#}
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

open_interest as (
    select date, open_interest_btc
    from {{ ref('stg_bybit__open_interest_1d') }}
    where {{ in_window('date', 1) }} or {{ in_rebuild_window('date', 1) }}
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

binance_days as (
    select date from funding_daily
    union
    select date from top_traders
    union
    select date from all_accounts
),

binance as (
    select
        d.date,
        'binance' as exchange,
        f.funding_rate_daily,
        f.funding_prints,
        cast(null as double) as open_interest_start_btc,
        cast(null as double) as open_interest_btc,
        t.long_short_ratio as top_trader_long_short_ratio,
        a.long_short_ratio as global_long_short_ratio,
        t.long_account_share as top_trader_long_account_share,
        a.long_account_share as global_long_account_share
    from binance_days as d
    left join funding_daily as f on f.date = d.date
    left join top_traders as t on t.date = d.date
    left join all_accounts as a on a.date = d.date
),

bybit as (
    -- A row per day whose start-of-day value is loaded; its end-of-day value is the next day's start.
    select
        day_start.date,
        'bybit' as exchange,
        cast(null as double) as funding_rate_daily,
        cast(null as bigint) as funding_prints,
        day_start.open_interest_btc as open_interest_start_btc,
        day_end.open_interest_btc as open_interest_btc,
        cast(null as double) as top_trader_long_short_ratio,
        cast(null as double) as global_long_short_ratio,
        cast(null as double) as top_trader_long_account_share,
        cast(null as double) as global_long_account_share
    from open_interest as day_start
    left join open_interest as day_end on day_end.date = day_start.date + interval 1 day
),

exchanges as (
    select * from binance
    union all
    select * from bybit
),

final as (
    select
        cast(date as date) as date,
        cast(exchange as varchar) as exchange,
        cast(funding_rate_daily as double) as funding_rate_daily,
        cast(funding_prints as integer) as funding_prints,
        cast(open_interest_btc as double) as open_interest_btc,
        cast(open_interest_start_btc as double) as open_interest_start_btc,
        cast(open_interest_btc - open_interest_start_btc as double) as open_interest_change_btc,
        cast((open_interest_btc / nullif(open_interest_start_btc, 0) - 1) * 100 as double) as open_interest_change_pct,
        cast(top_trader_long_short_ratio as double) as top_trader_long_short_ratio,
        cast(global_long_short_ratio as double) as global_long_short_ratio,
        cast(top_trader_long_account_share as double) as top_trader_long_account_share,
        cast(global_long_account_share as double) as global_long_account_share
    from exchanges
    where {{ in_window('date', 1) }}
)

select * from final
