-- The coverage columns say how complete a day's liquidation figures are; a reader trusts a day with uncovered_s = 0.
-- They must hold together: all recorded or none (a half-filled row would read as "no gap" where nothing is known),
-- the day's first and last event inside the day and in order, no more uncovered seconds than the day has, and every
-- staged order of the day between the first and last event the polls served (they are the rows the orders came
-- from: otherwise the coverage is another load's). On the 'all' row, the figures its doc promises from the
-- exchange rows (sum of polls, earliest first / latest last event, worst gap and uncovered seconds, any cap hit).
{{ config(meta={'dagster': {'ref': {'name': 'fct_liquidations_daily'}}}) }}  {#- the Dagster asset check's asset -#}

with mart as (
    select * from {{ ref('fct_liquidations_daily') }} where {{ in_any_rewritten_day('date') }}
),

staged as (
    select date, exchange, min(liquidated_at) as first_order_at, max(liquidated_at) as last_order_at
    from {{ ref('stg_okx__liquidation_orders') }}
    where {{ in_any_rewritten_day('date') }}
    group by date, exchange
),

per_exchange_rows as (
    select
        m.date,
        m.exchange,
        'exchange row' as row_kind,
        (m.polls is null) <> (m.polls_failed is null)
            or (m.polls is null) <> (m.first_event_at is null)
            or (m.polls is null) <> (m.last_event_at is null)
            or (m.polls is null) <> (m.longest_poll_gap_s is null)
            or (m.polls is null) <> (m.uncovered_s is null)
            or (m.polls is null) <> (m.row_cap_hit is null) as half_recorded,
        m.first_event_at < m.date
            or m.last_event_at >= m.date + interval 1 day
            or m.first_event_at > m.last_event_at
            or m.uncovered_s > 86400 as out_of_day,
        s.first_order_at < m.first_event_at or s.last_order_at > m.last_event_at as orders_outside_events
    from mart as m
    left join staged as s on s.date = m.date and s.exchange = m.exchange
    where m.exchange <> 'all'
),

expected_all as (
    select
        date,
        sum(polls) as polls,
        sum(polls_failed) as polls_failed,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(longest_poll_gap_s) as longest_poll_gap_s,
        max(uncovered_s) as uncovered_s,
        bool_or(row_cap_hit) as row_cap_hit
    from mart
    where exchange <> 'all'
    group by date
),

all_rows as (
    select
        a.date,
        a.exchange,
        'all row' as row_kind,
        a.polls is distinct from e.polls
            or a.polls_failed is distinct from e.polls_failed
            or a.first_event_at is distinct from e.first_event_at
            or a.last_event_at is distinct from e.last_event_at
            or a.longest_poll_gap_s is distinct from e.longest_poll_gap_s
            or a.uncovered_s is distinct from e.uncovered_s
            or a.row_cap_hit is distinct from e.row_cap_hit as half_recorded,
        false as out_of_day,
        false as orders_outside_events
    from mart as a
    left join expected_all as e on e.date = a.date
    where a.exchange = 'all'
)

select *
from (select * from per_exchange_rows union all select * from all_rows)
where half_recorded or out_of_day or orders_outside_events
