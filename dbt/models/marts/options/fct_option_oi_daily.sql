{{ config(unique_key=['snapshot_date', 'currency']) }}

-- Per snapshot day and underlying: open interest and 24-hour volume of calls and puts, their put/call ratios and
-- the OI's USD value. Sums run in instrument order so every engine (the file, the lake) adds in the same order.
with chain as (
    select *
    from {{ ref('fct_option_chain_snapshot') }}
    where {{ in_window('snapshot_date') }}
),

totals as (
    select
        snapshot_date,
        currency,
        count(*) as instruments,
        sum(open_interest order by instrument_name) filter (where option_type = 'call') as call_open_interest,
        sum(open_interest order by instrument_name) filter (where option_type = 'put') as put_open_interest,
        sum(coalesce(volume, 0) order by instrument_name) filter (where option_type = 'call') as call_volume,
        sum(coalesce(volume, 0) order by instrument_name) filter (where option_type = 'put') as put_volume,
        sum(open_interest * index_usd order by instrument_name) as open_interest_usd,
        max(index_usd) as index_usd
    from chain
    group by snapshot_date, currency
),

final as (
    select
        cast(snapshot_date as date) as snapshot_date,
        cast(currency as varchar) as currency,
        cast(instruments as integer) as instruments,
        cast(coalesce(call_open_interest, 0) as double) as call_open_interest,
        cast(coalesce(put_open_interest, 0) as double) as put_open_interest,
        cast(put_open_interest / nullif(call_open_interest, 0) as double) as put_call_oi_ratio,
        cast(coalesce(call_volume, 0) as double) as call_volume,
        cast(coalesce(put_volume, 0) as double) as put_volume,
        cast(put_volume / nullif(call_volume, 0) as double) as put_call_volume_ratio,
        cast(open_interest_usd as double) as open_interest_usd,
        cast(index_usd as double) as index_usd
    from totals
)

select * from final
