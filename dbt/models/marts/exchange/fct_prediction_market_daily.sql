{{ config(unique_key=['date', 'market_slug']) }}

with points as (
    select date, point_time, yes_price
    from {{ ref('stg_polymarket__prices_history') }}
    where {{ in_window('date') }}
),

snapshots as (
    select date, market_slug, question, yes_price, volume_usd, liquidity_usd, is_closed
    from {{ ref('stg_polymarket__market') }}
    where {{ in_window('date') }}
),

tracked_markets as (
    -- Every snapshot, not only the window's: the price points do not name their market, and a day backfilled
    -- before the first nightly snapshot takes its identity from the nearest one. One row per day: a small read.
    select date, market_slug, question
    from {{ ref('stg_polymarket__market') }}
),

last_points as (
    select
        date,
        point_time as last_point_time,
        yes_price,
        count(*) over (partition by date) as price_points
    from points
    qualify row_number() over (partition by date order by point_time desc) = 1
),

days as (
    select date from last_points
    union
    select date from snapshots
),

identities as (
    -- The market tracked on the day: that day's snapshot, else the latest one before it, else the first after.
    select
        d.date,
        m.market_slug,
        m.question
    from days as d
    cross join tracked_markets as m
    qualify row_number() over (
        partition by d.date
        order by case when m.date <= d.date then 0 else 1 end, abs(datediff('day', m.date, d.date))
    ) = 1
),

daily as (
    select
        i.date,
        i.market_slug,
        i.question,
        coalesce(p.yes_price, s.yes_price) as yes_probability,
        case when p.yes_price is not null then 'prices_history' else 'gamma_snapshot' end as yes_probability_source,
        p.last_point_time,
        coalesce(p.price_points, 0) as price_points,
        s.yes_price as snapshot_yes_price,
        s.volume_usd,
        s.liquidity_usd,
        s.is_closed
    from identities as i
    left join last_points as p on p.date = i.date
    left join snapshots as s on s.date = i.date
),

final as (
    select
        cast(date as date) as date,
        cast(market_slug as varchar) as market_slug,
        cast(question as varchar) as question,
        cast(yes_probability as double) as yes_probability,
        cast(yes_probability_source as varchar) as yes_probability_source,
        cast(last_point_time as timestamp) as last_point_time,
        cast(price_points as integer) as price_points,
        cast(snapshot_yes_price as double) as snapshot_yes_price,
        cast(volume_usd as double) as volume_usd,
        cast(liquidity_usd as double) as liquidity_usd,
        cast(is_closed as boolean) as is_closed
    from daily
)

select * from final
