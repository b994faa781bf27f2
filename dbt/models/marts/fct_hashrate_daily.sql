{{ config(unique_key='date') }}

with hashrate as (
    -- Reach back 6 days so the first days of the window get a full 7-day average.
    select date, hashrate_ehs, difficulty
    from {{ ref('stg_mempool__hashrate') }}
    where {{ in_window('date', lookback_days=6) }}
),

rolling as (
    select
        date,
        hashrate_ehs,
        avg(hashrate_ehs) over trailing_7d as hashrate_7d_avg_ehs,
        count(*) over trailing_7d as days_in_7d_avg,
        difficulty
    from hashrate
    window trailing_7d as (order by date range between interval 6 day preceding and current row)
),

final as (
    select
        cast(date as date) as date,
        cast(hashrate_ehs as double) as hashrate_ehs,
        cast(hashrate_7d_avg_ehs as double) as hashrate_7d_avg_ehs,
        cast(days_in_7d_avg as integer) as days_in_7d_avg,
        cast(difficulty as double) as difficulty
    from rolling
    where {{ in_window('date') }}
)

select * from final
