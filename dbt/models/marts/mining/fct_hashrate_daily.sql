{#- Trailing windows, in days: the 7-day average (the day and the 6 before it) and the peak of that average
    over the 365 days ending on the day (a "52-week high": a running all-time peak would make the rebuild of
    any old day rewrite every later day; a trailing year keeps a rebuild bounded and still spans any drawdown
    worth reporting). A day's peak depends on the hash rates of the 6 + 364 days before it, so the model
    reads from min_date - 370 days and rewrites the window plus the 370 days after it. -#}
{%- set avg_days = 7 -%}
{%- set peak_days = 365 -%}
{%- set reach_days = (avg_days - 1) + (peak_days - 1) -%}

{{ config(unique_key='date') }}

with mempool as (
    -- Inputs from [min_date - reach, max_date + reach): the union of the lookback and the rebuild window.
    select date, hashrate_ehs, difficulty
    from {{ ref('stg_mempool__hashrate') }}
    where {{ in_window('date', lookback_days=reach_days) }} or {{ in_rebuild_window('date', lookahead_days=reach_days) }}
),

blockchain_com as (
    select date, hashrate_ehs as hashrate_blockchain_com_ehs
    from {{ ref('stg_blockchain_com__hash_rate') }}
    where {{ in_rebuild_window('date', lookahead_days=reach_days) }}
),

rolling_average as (
    -- A RANGE frame over dates: a missing day shrinks the average to the days present (counted), it never
    -- pulls in an 8th day as a ROWS frame would.
    select
        date,
        hashrate_ehs,
        avg(hashrate_ehs) over trailing_avg as hashrate_7d_avg_ehs,
        count(*) over trailing_avg as days_in_7d_avg,
        difficulty
    from mempool
    window trailing_avg as (order by date range between interval {{ avg_days - 1 }} day preceding and current row)
),

trailing_peak as (
    -- Only complete averages (7 days loaded) are peak candidates: the first days of loaded history, or the
    -- days around a gap, average fewer days and would set a spurious high for a year. Ties keep the earliest
    -- day (the key (average, -epoch) breaks them).
    select
        *,
        max(hashrate_7d_avg_ehs) filter (where days_in_7d_avg = {{ avg_days }}) over trailing_year
            as complete_peak_ehs,
        arg_max(date, (hashrate_7d_avg_ehs, -epoch(date))) filter (where days_in_7d_avg = {{ avg_days }})
            over trailing_year as complete_peak_date
    from rolling_average
    window trailing_year as (order by date range between interval {{ peak_days - 1 }} day preceding and current row)
),

rolling_peak as (
    -- A day's own average counts for that day even when incomplete, so it never sits above its peak (the
    -- drawdown stays <= 0) and a day with no complete average in its year is its own peak; it does not
    -- become a later day's peak.
    select
        *,
        case
            when complete_peak_ehs is null or hashrate_7d_avg_ehs > complete_peak_ehs then hashrate_7d_avg_ehs
            else complete_peak_ehs
        end as peak_7d_avg_ehs,
        case
            when complete_peak_ehs is null or hashrate_7d_avg_ehs > complete_peak_ehs then date
            else complete_peak_date
        end as peak_date
    from trailing_peak
),

final as (
    select
        cast(r.date as date) as date,
        cast(r.hashrate_ehs as double) as hashrate_ehs,
        cast(r.hashrate_7d_avg_ehs as double) as hashrate_7d_avg_ehs,
        cast(r.days_in_7d_avg as integer) as days_in_7d_avg,
        cast(r.peak_7d_avg_ehs as double) as peak_7d_avg_ehs,
        cast(r.peak_date as date) as peak_date,
        cast(r.date - r.peak_date as integer) as days_since_peak,
        cast((r.hashrate_7d_avg_ehs / r.peak_7d_avg_ehs - 1) * 100 as double) as drawdown_from_peak_pct,
        cast(r.difficulty as double) as difficulty,
        cast(b.hashrate_blockchain_com_ehs as double) as hashrate_blockchain_com_ehs,
        cast((b.hashrate_blockchain_com_ehs / r.hashrate_ehs - 1) * 100 as double) as blockchain_com_divergence_pct
    from rolling_peak as r
    left join blockchain_com as b on b.date = r.date
    where {{ in_rebuild_window('r.date', lookahead_days=reach_days) }}
)

select * from final
