{#- The breakeven band: per UTC day and configured fleet (seed mining_fleet_profiles), the fleet's power cost per
    PH/s per day — the hashprice at which it breaks even — and the share of the day's hashprice it leaves:
        power cost (USD/PH/day) = J/TH × 1,000 TH/PH × 24 h / 1,000 W/kW × USD/kWh = J/TH × 24 × USD/kWh
        margin_pct = (1 − power cost / hashprice) × 100        (negative: the fleet mines at a loss)
    Also at the 30-day average and at the 30 days before the epoch's halving, so "post-halving margins" is a
    comparison within one row. Power only: no hardware, hosting or pool fees. Rewrites what fct_hashprice_daily
    rewrites (from the start of the epoch holding min_date). -#}
{{ config(unique_key=['date', 'fleet_profile']) }}

with hashprice as (
    select
        date, hashprice_usd_per_ph_day, hashprice_source, hashprice_30d_avg_usd_per_ph_day,
        pre_halving_30d_avg_usd_per_ph_day, halving_epoch, days_since_halving
    from {{ ref('fct_hashprice_daily') }}
    where date >= {{ window_epoch_start() }}
),

fleets as (
    select fleet_profile, efficiency_j_per_th, power_usd_per_kwh
    from {{ ref('mining_fleet_profiles') }}
),

costed as (
    select
        h.*,
        f.fleet_profile,
        f.efficiency_j_per_th,
        f.power_usd_per_kwh,
        f.efficiency_j_per_th * 24 * f.power_usd_per_kwh as power_cost_usd_per_ph_day
    from hashprice as h
    cross join fleets as f
),

final as (
    select
        cast(date as date) as date,
        cast(fleet_profile as varchar) as fleet_profile,
        cast(efficiency_j_per_th as double) as efficiency_j_per_th,
        cast(power_usd_per_kwh as double) as power_usd_per_kwh,
        cast(halving_epoch as integer) as halving_epoch,
        cast(days_since_halving as integer) as days_since_halving,
        cast(hashprice_usd_per_ph_day as double) as hashprice_usd_per_ph_day,
        cast(hashprice_source as varchar) as hashprice_source,
        cast(power_cost_usd_per_ph_day as double) as breakeven_hashprice_usd_per_ph_day,
        cast(hashprice_usd_per_ph_day - power_cost_usd_per_ph_day as double) as margin_usd_per_ph_day,
        cast((1 - power_cost_usd_per_ph_day / hashprice_usd_per_ph_day) * 100 as double) as margin_pct,
        cast(hashprice_usd_per_ph_day / (efficiency_j_per_th * 24) as double) as breakeven_power_usd_per_kwh,
        cast((1 - power_cost_usd_per_ph_day / hashprice_30d_avg_usd_per_ph_day) * 100 as double) as margin_30d_avg_pct,
        cast((1 - power_cost_usd_per_ph_day / pre_halving_30d_avg_usd_per_ph_day) * 100 as double)
            as pre_halving_margin_pct
    from costed
)

select * from final
