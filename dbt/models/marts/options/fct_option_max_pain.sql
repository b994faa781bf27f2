{{ config(unique_key=['snapshot_date', 'currency', 'expiry_date']) }}

-- Max pain per snapshot day, underlying and expiry: the listed strike at which, if the expiry settled there, the
-- options of that expiry would pay their holders the least (sum over calls of OI x max(0, S - K) and over puts of
-- OI x max(0, K - S), USD, one coin a contract). Ties go to the lower strike. Expiries already past at the
-- snapshot (time to expiry <= 0) are left out. Each term is rounded to a micro-dollar and added as a DECIMAL: the
-- sum is exact, so it is the same in any order on every engine (the file, the lake) and needs no ordered
-- aggregate (an ORDER BY inside the sum keeps a sort per settlement candidate: 3.7 GiB, out of memory, for an
-- 82-day window of both chains).
with chain as (
    select snapshot_date, currency, expiry_date, strike, option_type, open_interest
    from {{ ref('fct_option_chain_snapshot') }}
    where {{ in_window('snapshot_date') }} and time_to_expiry_years > 0
),

candidates as (
    select distinct snapshot_date, currency, expiry_date, strike as settlement_usd
    from chain
),

payout as (
    select
        c.snapshot_date,
        c.currency,
        c.expiry_date,
        c.settlement_usd,
        sum(
            cast(
                case when o.option_type = 'call'
                    then o.open_interest * greatest(c.settlement_usd - o.strike, 0)
                    else o.open_interest * greatest(o.strike - c.settlement_usd, 0)
                end
                as decimal(38, 6)
            )
        ) as payout_usd
    from candidates as c
    inner join chain as o
        on o.snapshot_date = c.snapshot_date and o.currency = c.currency and o.expiry_date = c.expiry_date
    group by c.snapshot_date, c.currency, c.expiry_date, c.settlement_usd
),

expiry_oi as (
    select
        snapshot_date,
        currency,
        expiry_date,
        count(distinct strike) as strikes,
        sum(open_interest order by strike) filter (where option_type = 'call') as call_open_interest,
        sum(open_interest order by strike) filter (where option_type = 'put') as put_open_interest
    from chain
    group by snapshot_date, currency, expiry_date
),

least as (
    select *
    from payout
    qualify row_number() over (
        partition by snapshot_date, currency, expiry_date order by payout_usd, settlement_usd
    ) = 1
),

final as (
    select
        cast(l.snapshot_date as date) as snapshot_date,
        cast(l.currency as varchar) as currency,
        cast(l.expiry_date as date) as expiry_date,
        cast(l.settlement_usd as double) as max_pain_usd,
        cast(l.payout_usd as double) as payout_at_max_pain_usd,
        cast(e.strikes as integer) as strikes,
        cast(coalesce(e.call_open_interest, 0) as double) as call_open_interest,
        cast(coalesce(e.put_open_interest, 0) as double) as put_open_interest
    from least as l
    inner join expiry_oi as e using (snapshot_date, currency, expiry_date)
)

select * from final
