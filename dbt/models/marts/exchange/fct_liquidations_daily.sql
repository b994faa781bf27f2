{{ config(unique_key=['date', 'exchange']) }}

with orders as (
    -- One row per liquidation order of any exchange: the streams, and OKX's REST poll for what its stream missed
    -- (fct_liquidation_events). A new feed is one more `union all` there; the 'all' rows below add it up.
    select date, exchange, liquidated_position, size_btc, notional_usd, via, order_key
    from {{ ref('fct_liquidation_events') }}
    where {{ in_window('date') }}
),

coverage as (
    -- How well each exchange's poll covered the day (polls, gaps, row cap), one row per day and exchange: a
    -- polled feed's coverage as the extract recorded it in raw.load_log.
    select date, exchange, polls, polls_failed, first_event_at, last_event_at, longest_poll_gap_s, uncovered_s,
           row_cap_hit
    from {{ ref('stg_okx__liquidation_coverage') }}
    where {{ in_window('date') }}
),

stream_coverage as (
    -- How each exchange's stream was covered (the collector's hourly files): seconds connected, gaps, duplicates
    -- dropped, frames quarantined, and whether the feed is a throttled sample.
    select date, exchange, covered_s, gaps, longest_gap_s, duplicates, frames_quarantined, throttled
    from {{ ref('stg_liquidation_stream__coverage') }}
    where {{ in_window('date') }}
),

per_exchange as (
    select
        date,
        exchange,
{{ liquidation_sums() }},
        count(*) filter (where liquidated_position = 'long') as long_orders,
        count(*) filter (where liquidated_position = 'short') as short_orders,
        1 as exchanges,
        count(*) filter (where via = 'rest') as orders_from_poll
    from orders
    group by date, exchange
),

per_exchange_covered as (
    -- Left join: an exchange's day without a coverage row (a feed that is not polled, or a day loaded before
    -- coverage was recorded) keeps its figures with null coverage.
    select p.*, c.polls, c.polls_failed, c.first_event_at, c.last_event_at, c.longest_poll_gap_s, c.uncovered_s,
           c.row_cap_hit, s.covered_s as stream_covered_s, s.gaps as stream_gaps,
           s.longest_gap_s as stream_longest_gap_s, s.duplicates as stream_duplicates,
           s.frames_quarantined as stream_frames_quarantined, s.throttled
    from per_exchange as p
    left join coverage as c on c.date = p.date and c.exchange = p.exchange
    left join stream_coverage as s on s.date = p.date and s.exchange = p.exchange
),

all_exchanges as (
    select
        date,
        'all' as exchange,
{{ liquidation_sums_over_exchanges() }},
        sum(long_orders) as long_orders,
        sum(short_orders) as short_orders,
        count(*) as exchanges,
        sum(orders_from_poll) as orders_from_poll,
        -- What can be said of all venues together, over those that report coverage (null when none does):
        -- polls add up; the first and last event are the earliest and latest of any venue; the longest gap and
        -- the uncovered seconds are the worst venue's (the total is only as complete as its least covered
        -- part); a row cap hit anywhere makes the total possibly truncated. With OKX alone, OKX's figures.
        sum(polls) as polls,
        sum(polls_failed) as polls_failed,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(longest_poll_gap_s) as longest_poll_gap_s,
        max(uncovered_s) as uncovered_s,
        bool_or(row_cap_hit) as row_cap_hit,
        -- Streams: the least covered exchange's seconds and its worst gap; duplicates and quarantined frames add
        -- up; throttled when any exchange's feed is a sample (the total is then a lower bound too).
        min(stream_covered_s) as stream_covered_s,
        sum(stream_gaps) as stream_gaps,
        max(stream_longest_gap_s) as stream_longest_gap_s,
        sum(stream_duplicates) as stream_duplicates,
        sum(stream_frames_quarantined) as stream_frames_quarantined,
        bool_or(throttled) as throttled
    from per_exchange_covered
    group by date
),

combined as (
    select * from per_exchange_covered
    union all by name
    select * from all_exchanges
),

final as (
    select
        cast(date as date) as date,
        cast(exchange as varchar) as exchange,
        cast(long_liquidated_usd as double) as long_liquidated_usd,
        cast(short_liquidated_usd as double) as short_liquidated_usd,
        cast(total_liquidated_usd as double) as total_liquidated_usd,
        cast(orders as integer) as orders,
        cast(long_orders as integer) as long_orders,
        cast(short_orders as integer) as short_orders,
        cast(long_liquidated_btc as double) as long_liquidated_btc,
        cast(short_liquidated_btc as double) as short_liquidated_btc,
        cast(long_liquidated_usd / nullif(total_liquidated_usd, 0) * 100 as double) as long_share_pct,
        cast(largest_order_usd as double) as largest_order_usd,
        cast(exchanges as integer) as exchanges,
        cast(polls as integer) as polls,
        cast(polls_failed as integer) as polls_failed,
        cast(first_event_at as timestamp) as first_event_at,
        cast(last_event_at as timestamp) as last_event_at,
        cast(longest_poll_gap_s as bigint) as longest_poll_gap_s,
        cast(uncovered_s as bigint) as uncovered_s,
        cast(row_cap_hit as boolean) as row_cap_hit,
        cast(orders_from_poll as integer) as orders_from_poll,
        cast(stream_covered_s as double) as stream_covered_s,
        cast(stream_gaps as integer) as stream_gaps,
        cast(stream_longest_gap_s as double) as stream_longest_gap_s,
        cast(stream_duplicates as bigint) as stream_duplicates,
        cast(stream_frames_quarantined as bigint) as stream_frames_quarantined,
        cast(throttled as boolean) as throttled
    from combined
)

select * from final
