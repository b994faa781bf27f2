{#- Hashprice per UTC day over the whole loaded history, from two routes: mempool.space's blocks
    (fct_miner_revenue_daily: ~10 requests a day) where loaded, blockchain.com's charts (miners' revenue / hash
    rate: one request a year each) for every day. The chosen value prefers the blocks. Figures anchored to the
    halving epoch: the average of the 30 days before the epoch's halving, constant over the epoch, and the
    30-day average's change from it. A rebuilt day D changes the 30-day averages of D..D+29 and, within the last
    30 days before a halving, the pre-halving average of every day of the next epoch: the model rewrites every
    day from the start of the epoch holding min_date, and reads 30 days before that. -#}
{%- set avg_days = 30 -%}

{{ config(unique_key='date') }}

with blocks as (
    select date, hashprice_usd_per_ph_day
    from {{ ref('fct_miner_revenue_daily') }}
    where date >= {{ window_epoch_start() }} - interval {{ avg_days }} day
),

bc_revenue as (
    select date, revenue_usd
    from {{ ref('stg_blockchain_com__miners_revenue') }}
    where date >= {{ window_epoch_start() }} - interval {{ avg_days }} day
),

bc_hashrate as (
    select date, hashrate_ehs
    from {{ ref('stg_blockchain_com__hash_rate') }}
    where date >= {{ window_epoch_start() }} - interval {{ avg_days }} day
),

blockchain_com as (
    -- sources.md §3.4's cross-check: miners-revenue (USD) / hash-rate, in PH/s (EH/s × 1000).
    select
        r.date,
        r.revenue_usd,
        h.hashrate_ehs,
        r.revenue_usd / (h.hashrate_ehs * 1000) as hashprice_usd_per_ph_day
    from bc_revenue as r
    join bc_hashrate as h on h.date = r.date
),

days as (
    select
        coalesce(b.date, c.date) as date,
        b.hashprice_usd_per_ph_day as hashprice_blocks_usd_per_ph_day,
        c.hashprice_usd_per_ph_day as hashprice_blockchain_com_usd_per_ph_day,
        c.revenue_usd as revenue_blockchain_com_usd,
        c.hashrate_ehs as hashrate_blockchain_com_ehs
    from blocks as b
    full outer join blockchain_com as c on c.date = b.date
),

chosen as (
    select
        d.*,
        coalesce(hashprice_blocks_usd_per_ph_day, hashprice_blockchain_com_usd_per_ph_day) as hashprice_usd_per_ph_day,
        case
            when hashprice_blocks_usd_per_ph_day is not null then 'mempool_blocks'
            when hashprice_blockchain_com_usd_per_ph_day is not null then 'blockchain_com'
        end as hashprice_source,
        e.halving_epoch,
        e.epoch_start_date,
        e.subsidy_btc_per_block
    from days as d
    asof join {{ halving_epochs() }} as e on d.date >= e.epoch_start_date
    where coalesce(hashprice_blocks_usd_per_ph_day, hashprice_blockchain_com_usd_per_ph_day) is not null
),

rolling as (
    -- A RANGE frame over dates: a missing day shrinks the average to the days present (counted).
    select
        *,
        avg(hashprice_usd_per_ph_day) over last_30 as hashprice_30d_avg_usd_per_ph_day,
        count(*) over last_30 as days_in_30d_avg
    from chosen
    window last_30 as (order by date range between interval {{ avg_days - 1 }} day preceding and current row)
),

pre_halving as (
    -- Per epoch: the mean hashprice over the 30 days before its first day (the end of the previous epoch).
    select
        e.halving_epoch,
        avg(c.hashprice_usd_per_ph_day order by c.date) as pre_halving_30d_avg_usd_per_ph_day,
        count(c.date) as pre_halving_days
    from {{ halving_epochs() }} as e
    join chosen as c
        on c.date >= e.epoch_start_date - interval {{ avg_days }} day and c.date < e.epoch_start_date
    group by e.halving_epoch
),

final as (
    select
        cast(r.date as date) as date,
        cast(r.hashprice_usd_per_ph_day as double) as hashprice_usd_per_ph_day,
        cast(r.hashprice_source as varchar) as hashprice_source,
        cast(r.hashprice_blocks_usd_per_ph_day as double) as hashprice_blocks_usd_per_ph_day,
        cast(r.hashprice_blockchain_com_usd_per_ph_day as double) as hashprice_blockchain_com_usd_per_ph_day,
        cast(r.revenue_blockchain_com_usd as double) as revenue_blockchain_com_usd,
        cast(r.hashrate_blockchain_com_ehs as double) as hashrate_blockchain_com_ehs,
        cast(r.halving_epoch as integer) as halving_epoch,
        cast(r.subsidy_btc_per_block as double) as subsidy_btc_per_block,
        cast(r.epoch_start_date as date) as epoch_start_date,
        cast(r.date - r.epoch_start_date as integer) as days_since_halving,
        cast(r.hashprice_30d_avg_usd_per_ph_day as double) as hashprice_30d_avg_usd_per_ph_day,
        cast(r.days_in_30d_avg as integer) as days_in_30d_avg,
        cast(p.pre_halving_30d_avg_usd_per_ph_day as double) as pre_halving_30d_avg_usd_per_ph_day,
        cast(p.pre_halving_days as integer) as pre_halving_days,
        cast((r.hashprice_30d_avg_usd_per_ph_day / p.pre_halving_30d_avg_usd_per_ph_day - 1) * 100 as double)
            as change_vs_pre_halving_pct
    from rolling as r
    left join pre_halving as p on p.halving_epoch = r.halving_epoch
    where r.date >= {{ window_epoch_start() }}
)

select * from final
