{{ config(unique_key=['date', 'market_id']) }}

with points as (
    select date, yes_token_id, point_time, yes_price
    from {{ ref('stg_polymarket__prices_history') }}
    where {{ in_window('date') }}
),

snapshots as (
    select date, market_id, yes_price, volume_usd, liquidity_usd, is_closed
    from {{ ref('stg_polymarket__markets') }}
    where {{ in_window('date') }}
),

markets as (
    -- Each market as last seen, over every snapshot (not only the window's): a day backfilled from price points
    -- before the first nightly snapshot takes its market from any snapshot, and a market resolved after the
    -- window knows its resolution. One row per market: a small read.
    select
        market_id, market_slug, question, event_slug, event_title, group_item_title, threshold_usd, direction,
        period_start, period_end, yes_token_id, resolved_outcome, resolved_at, is_headline
    from {{ ref('stg_polymarket__markets') }}
    qualify row_number() over (partition by market_id order by date desc) = 1
),

last_points as (
    select
        date,
        yes_token_id,
        point_time as last_point_time,
        yes_price,
        count(*) over (partition by date, yes_token_id) as price_points
    from points
    qualify row_number() over (partition by date, yes_token_id order by point_time desc) = 1
),

market_days as (
    select date, market_id from snapshots
    union
    select p.date, m.market_id from last_points as p join markets as m using (yes_token_id)
),

daily as (
    select
        d.date,
        m.market_id,
        m.market_slug,
        m.question,
        m.event_slug,
        m.event_title,
        m.group_item_title,
        m.threshold_usd,
        m.direction,
        m.period_start,
        m.period_end,
        coalesce(p.yes_price, s.yes_price) as yes_probability,
        case when p.yes_price is not null then 'prices_history' else 'gamma_snapshot' end as yes_probability_source,
        p.last_point_time,
        coalesce(p.price_points, 0) as price_points,
        s.yes_price as snapshot_yes_price,
        s.volume_usd,
        s.liquidity_usd,
        s.is_closed,
        -- The resolution as known now, shown on the days from it on (before it the market was still open).
        case when m.resolved_at is not null and cast(m.resolved_at as date) <= d.date then m.resolved_outcome end
            as resolved_outcome,
        case when m.resolved_at is not null and cast(m.resolved_at as date) <= d.date then m.resolved_at end
            as resolved_at,
        m.is_headline
    from market_days as d
    join markets as m using (market_id)
    left join last_points as p on p.date = d.date and p.yes_token_id = m.yes_token_id
    left join snapshots as s on s.date = d.date and s.market_id = d.market_id
    -- Followed from its listing to its resolution: the resolution day is its last row (its event, still open for
    -- its other rungs, keeps listing it as closed until the month ends).
    where m.resolved_at is null or d.date <= cast(m.resolved_at as date)
),

final as (
    select
        cast(date as date) as date,
        cast(market_id as varchar) as market_id,
        cast(market_slug as varchar) as market_slug,
        cast(question as varchar) as question,
        cast(event_slug as varchar) as event_slug,
        cast(event_title as varchar) as event_title,
        cast(group_item_title as varchar) as group_item_title,
        cast(threshold_usd as double) as threshold_usd,
        cast(direction as varchar) as direction,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        cast(yes_probability as double) as yes_probability,
        cast(yes_probability_source as varchar) as yes_probability_source,
        cast(last_point_time as timestamp) as last_point_time,
        cast(price_points as integer) as price_points,
        cast(snapshot_yes_price as double) as snapshot_yes_price,
        cast(volume_usd as double) as volume_usd,
        cast(liquidity_usd as double) as liquidity_usd,
        cast(is_closed as boolean) as is_closed,
        cast(resolved_outcome as varchar) as resolved_outcome,
        cast(resolved_at as timestamp) as resolved_at,
        cast(is_headline as boolean) as is_headline
    from daily
)

select * from final
