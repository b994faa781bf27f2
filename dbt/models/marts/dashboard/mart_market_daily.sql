{{ config(unique_key='date', tags=['after_gamma']) }}

{#- The input marts rewrite more than the run's window (see the macro in_any_rewritten_day): this mart rewrites
    the same span, so a backfill in any order ends with the same dashboard rows. -#}

with price as (
    select date, open, high, low, close, max_close_divergence_pct
    from {{ ref('fct_btc_price_daily') }}
    where {{ in_any_rewritten_day('date') }}
),

level_events as (
    select
        date,
        string_agg(direction || ' ' || cast(cast(level_usd as bigint) as varchar), ', ' order by level_usd desc)
            as level_events,
        count(*) as level_event_count
    from {{ ref('fct_price_level_events') }}
    where {{ in_any_rewritten_day('date') }}
    group by date
),

liquidations as (
    select date, long_liquidated_usd, short_liquidated_usd, total_liquidated_usd
    from {{ ref('fct_liquidations_daily') }}
    where exchange = 'all' and {{ in_any_rewritten_day('date') }}
),

funding as (
    select date, funding_rate_daily
    from {{ ref('fct_derivatives_daily') }}
    where exchange = 'binance' and {{ in_any_rewritten_day('date') }}
),

open_interest as (
    select date, open_interest_btc, open_interest_change_pct
    from {{ ref('fct_derivatives_daily') }}
    where exchange = 'bybit' and {{ in_any_rewritten_day('date') }}
),

hashrate as (
    select date, hashrate_7d_avg_ehs, peak_7d_avg_ehs, peak_date, drawdown_from_peak_pct
    from {{ ref('fct_hashrate_daily') }}
    where {{ in_any_rewritten_day('date') }}
),

miner_revenue as (
    select date, revenue_usd, hashprice_usd_per_ph_day
    from {{ ref('fct_miner_revenue_daily') }}
    where {{ in_any_rewritten_day('date') }}
),

prediction as (
    -- The configured headline market (prediction_markets.toml `headline = true`) on the days it is followed.
    select date, max(yes_probability) as yes_probability
    from {{ ref('fct_prediction_market_daily') }}
    where is_headline and {{ in_any_rewritten_day('date') }}
    group by date
),

gamma as (
    select snapshot_date as date, total_net_gex_usd, zero_gamma_usd, call_wall_usd, put_wall_usd, regime
    from {{ source('marts', 'fct_gamma_summary_daily') }}
    where currency = 'BTC' and {{ in_any_rewritten_day('snapshot_date') }}
),

final as (
    select
        cast(price.date as date) as date,
        cast(price.close as double) as close,
        cast(price.low as double) as low,
        cast(price.high as double) as high,
        cast(coalesce(level_events.level_events, '') as varchar) as level_events,
        cast(coalesce(level_events.level_event_count, 0) as integer) as level_event_count,
        cast(liquidations.long_liquidated_usd as double) as long_liquidated_usd,
        cast(liquidations.short_liquidated_usd as double) as short_liquidated_usd,
        cast(liquidations.total_liquidated_usd as double) as total_liquidated_usd,
        cast(funding.funding_rate_daily as double) as funding_rate_daily,
        cast(open_interest.open_interest_btc as double) as open_interest_btc,
        cast(open_interest.open_interest_change_pct as double) as open_interest_change_pct,
        cast(hashrate.hashrate_7d_avg_ehs as double) as hashrate_7d_avg_ehs,
        cast(hashrate.drawdown_from_peak_pct as double) as hashrate_drawdown_from_peak_pct,
        cast(hashrate.peak_date as date) as hashrate_peak_date,
        cast(miner_revenue.hashprice_usd_per_ph_day as double) as hashprice_usd_per_ph_day,
        cast(prediction.yes_probability as double) as yes_probability,
        cast(gamma.total_net_gex_usd as double) as total_net_gex_usd,
        cast(gamma.zero_gamma_usd as double) as zero_gamma_usd,
        cast(gamma.call_wall_usd as double) as call_wall_usd,
        cast(gamma.put_wall_usd as double) as put_wall_usd,
        cast(gamma.regime as varchar) as gamma_regime
    from price
    left join level_events using (date)
    left join liquidations using (date)
    left join funding using (date)
    left join open_interest using (date)
    left join hashrate using (date)
    left join miner_revenue using (date)
    left join prediction using (date)
    left join gamma using (date)
)

select * from final
