with deduplicated as (
    {{ deduplicate_latest(source('raw', 'deribit__option_book_summary'), ['partition_date', 'instrument_name']) }}
),

named as (
    -- The book summary has no strike/expiry fields: they live in the name, e.g. BTC-7FEB25-100000-C
    -- (the day is not zero-padded). Deribit options expire at 08:00 UTC.
    select
        *,
        regexp_extract(instrument_name, '^BTC-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 1) as expiry_code,
        regexp_extract(instrument_name, '^BTC-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 2) as strike_text,
        regexp_extract(instrument_name, '^BTC-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 3) as type_code
    from deduplicated
),

renamed as (
    select
        partition_date as snapshot_date,
        instrument_name,
        creation_time,
        cast(strptime(expiry_code, '%d%b%y') as date) as expiry_date,
        cast(strptime(expiry_code, '%d%b%y') as timestamp) + interval 8 hour as expiry_ts,
        cast(strike_text as double) as strike,
        case type_code when 'C' then 'call' when 'P' then 'put' end as option_type,
        cast(open_interest as double) as open_interest_btc,
        cast(mark_iv as double) as mark_iv,
        cast(mark_price as double) as mark_price_btc,
        bid_price as bid_price_btc,
        ask_price as ask_price_btc,
        cast(volume as double) as volume_btc,
        underlying_index,
        cast(underlying_price as double) as forward_usd,
        cast(estimated_delivery_price as double) as index_usd,
        _landing_file,
        _loaded_at
    from named
)

select * from renamed
