{{ config(unique_key=['snapshot_date', 'instrument_name']) }}

with chain as (
    select *
    from {{ ref('stg_deribit__option_book_summary') }}
    where {{ in_window('snapshot_date') }}
),

final as (
    select
        cast(snapshot_date as date) as snapshot_date,
        cast(currency as varchar) as currency,
        cast(instrument_name as varchar) as instrument_name,
        cast(creation_time as timestamp) as snapshot_ts,
        cast(expiry_date as date) as expiry_date,
        cast(expiry_ts as timestamp) as expiry_ts,
        cast(strike as double) as strike,
        cast(option_type as varchar) as option_type,
        cast(open_interest as double) as open_interest,
        cast(mark_iv as double) as mark_iv,
        cast(mark_price as double) as mark_price,
        cast(bid_price as double) as bid_price,
        cast(ask_price as double) as ask_price,
        cast(volume as double) as volume,
        cast(forward_usd as double) as forward_usd,
        cast(index_usd as double) as index_usd,
        -- Year fraction on a 365-day year, from the row's own timestamp to the 08:00 UTC expiry (gamma.md).
        cast(epoch(expiry_ts - creation_time) / (365.0 * 86400) as double) as time_to_expiry_years
    from chain
)

select * from final
