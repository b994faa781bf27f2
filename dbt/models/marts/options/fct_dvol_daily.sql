{#- Deribit's volatility index per day and currency, with the change of its close from the calendar day before.
    change_1d of day D reads D - 1's close: a run over [min_date, max_date) reads [min_date - 1, max_date + 1) and
    rewrites [min_date, max_date + 1) (rebuilding day D changes D + 1's change). Lookback 1, lookahead 1. -#}
{{ config(unique_key=['date', 'currency']) }}

with dvol as (
    select date, currency, open, high, low, close
    from {{ ref('stg_deribit__dvol') }}
    where {{ in_window('date', 1) }} or {{ in_rebuild_window('date', 1) }}
),

with_previous as (
    -- The close of the calendar day before, same currency: none (null change) when that day is not loaded.
    select
        d.*,
        previous.close as previous_close
    from dvol as d
    left join dvol as previous
        on previous.currency = d.currency and previous.date = d.date - interval 1 day
),

final as (
    select
        cast(date as date) as date,
        cast(currency as varchar) as currency,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(close - previous_close as double) as change_1d
    from with_previous
    where {{ in_rebuild_window('date', 1) }}
)

select * from final
