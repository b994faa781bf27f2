{#- A retarget's change compares its difficulty with the previous epoch's, read from the blocks of the same
    and the previous day (an epoch lasts ~2 weeks, so blocks of the day before a retarget belong to the
    previous epoch). Lookback 1 day, hence lookahead 1: rebuilding day D rewrites the retargets of D + 1. -#}
{{ config(unique_key='height') }}

with blocks as (
    select date, height, block_time, difficulty, epoch, is_retarget
    from {{ ref('stg_mempool__blocks') }}
    where {{ in_window('date', lookback_days=1) }} or {{ in_rebuild_window('date', lookahead_days=1) }}
),

daily_difficulty as (
    -- mempool's hash-rate dataset: the difficulty at the end of each day. For a retarget stamped on day D,
    -- the value of D - 1 is the previous epoch's difficulty: the fallback when no earlier block is loaded.
    select date, difficulty
    from {{ ref('stg_mempool__hashrate') }}
    where {{ in_window('date', lookback_days=1) }}
),

with_previous as (
    -- Heights, not timestamps, order blocks (miners' clocks are not monotonic).
    select
        *,
        lag(height) over by_height as previous_height,
        lag(difficulty) over by_height as previous_block_difficulty
    from blocks
    window by_height as (order by height)
),

retargets as (
    select
        r.height,
        r.date,
        r.block_time,
        r.epoch,
        r.difficulty,
        coalesce(
            -- The block before must be in the previous epoch (no gap of a whole epoch in what is loaded).
            case when r.previous_height >= r.height - 2016 then r.previous_block_difficulty end,
            d.difficulty
        ) as previous_difficulty
    from with_previous as r
    left join daily_difficulty as d on d.date = r.date - interval 1 day
    where r.is_retarget and {{ in_rebuild_window('r.date', lookahead_days=1) }}
),

final as (
    select
        cast(height as bigint) as height,
        cast(date as date) as date,
        cast(block_time as timestamp) as block_time,
        cast(epoch as bigint) as epoch,
        cast(difficulty as double) as difficulty,
        cast(previous_difficulty as double) as previous_difficulty,
        cast((difficulty / previous_difficulty - 1) * 100 as double) as change_pct,
        -- The retarget scales difficulty by 2 weeks / the epoch's duration: invert it (approximate, the rule
        -- measures 2015 intervals and clamps the factor to [1/4, 4]).
        cast(14 * previous_difficulty / difficulty as double) as implied_previous_epoch_days
    from retargets
)

select * from final
