{#- A break on day D compares D's close with D - 1's: the run reads one day back and one day ahead of its window
    and rewrites the window plus the day after it (its break compares with the window's last close). Events are
    sparse: a rebuilt day whose break has gone (a late exchange moved the consolidated close) must lose its old
    row, which a delete on the key alone would keep, so the pre-hook first clears the whole rewritten range. -#}
{{ config(
    unique_key=['date', 'level_usd', 'direction'],
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ in_rebuild_window('date', 1) }}{% endif %}"
) }}

with prices as (
    -- [min_date - 1, max_date + 1)
    select date, high, low, close
    from {{ ref('fct_btc_price_daily') }}
    where {{ in_window('date', 1) }} or {{ in_rebuild_window('date', 1) }}
),

levels as (
    select level_usd, level_kind, level_label
    from {{ ref('price_levels') }}
),

with_previous as (
    select
        date,
        high,
        low,
        close,
        lag(date) over (order by date) as previous_date,
        lag(close) over (order by date) as previous_close
    from prices
),

consecutive_days as (
    -- A break needs the close of the calendar day before: after a gap in the prices there is no event.
    select * from with_previous
    where previous_date = date - interval 1 day
),

crossings as (
    select
        d.date,
        l.level_usd,
        case when d.close < l.level_usd then 'break_down' else 'break_up' end as direction,
        l.level_kind,
        l.level_label,
        d.previous_close,
        d.close,
        d.low,
        d.high
    from consecutive_days as d
    cross join levels as l
    where (d.previous_close >= l.level_usd and d.close < l.level_usd)
       or (d.previous_close < l.level_usd and d.close >= l.level_usd)
),

final as (
    select
        cast(date as date) as date,
        cast(level_usd as integer) as level_usd,
        cast(direction as varchar) as direction,
        cast(level_kind as varchar) as level_kind,
        cast(level_label as varchar) as level_label,
        cast(previous_close as double) as previous_close,
        cast(close as double) as close,
        cast(low as double) as low,
        cast(high as double) as high,
        cast(low <= level_usd and high >= level_usd as boolean) as intraday_touch,
        cast((close / level_usd - 1) * 100 as double) as close_vs_level_pct
    from crossings
    where {{ in_rebuild_window('date', 1) }}
)

select * from final
