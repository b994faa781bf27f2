{{ config(unique_key='date') }}

with blocks as (
    select date, subsidy_sats, total_fees_sats, reward_sats
    from {{ ref('stg_mempool__blocks') }}
    where {{ in_window('date') }}
),

price as (
    select date, close
    from {{ ref('fct_btc_price_daily') }}
    where {{ in_window('date') }}
),

hashrate as (
    select date, hashrate_ehs
    from {{ ref('stg_mempool__hashrate') }}
    where {{ in_window('date') }}
),

daily_rewards as (
    -- Sum in sats (exact integers), convert once.
    select
        date,
        count(*) as blocks,
        sum(subsidy_sats) / 1e8 as subsidy_btc,
        sum(total_fees_sats) / 1e8 as fees_btc,
        sum(reward_sats) / 1e8 as revenue_btc
    from blocks
    group by date
),

valued as (
    -- sources.md §3.4: hashprice = rewards (BTC) × BTC-USD / hash rate (PH/s), the same day's figures.
    select
        r.*,
        p.close as btc_close_usd,
        r.revenue_btc * p.close as revenue_usd,
        h.hashrate_ehs,
        r.revenue_btc * p.close / (h.hashrate_ehs * 1000) as hashprice_usd_per_ph_day
    from daily_rewards as r
    left join price as p on p.date = r.date
    left join hashrate as h on h.date = r.date
),

final as (
    select
        cast(date as date) as date,
        cast(blocks as integer) as blocks,
        cast(subsidy_btc as double) as subsidy_btc,
        cast(fees_btc as double) as fees_btc,
        cast(revenue_btc as double) as revenue_btc,
        cast(fees_btc / revenue_btc * 100 as double) as fee_share_pct,
        cast(btc_close_usd as double) as btc_close_usd,
        cast(revenue_usd as double) as revenue_usd,
        cast(hashrate_ehs as double) as hashrate_ehs,
        cast(hashprice_usd_per_ph_day as double) as hashprice_usd_per_ph_day
    from valued
)

select * from final
