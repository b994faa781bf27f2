{#- Both option chains (BTC, ETH: one raw table each, the same fields) with their currency as a column. -#}
{%- set chains = [('BTC', 'deribit__option_book_summary'), ('ETH', 'deribit__eth_option_book_summary')] %}

with deduplicated as (
    {%- for currency, table in chains %}
    select '{{ currency }}' as currency, *
    from ({{ deduplicate_latest(source('raw', table), ['partition_date', 'instrument_name']) }})
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

named as (
    -- The book summary has no strike/expiry fields: they live in the name, e.g. BTC-7FEB25-100000-C or
    -- ETH-7FEB25-3000-C (the day is not zero-padded). Deribit options expire at 08:00 UTC. A name of another
    -- currency than its chain's parses to nothing (and fails assert_option_chain_parsed).
    select
        *,
        case when starts_with(instrument_name, currency || '-')
            then regexp_extract(instrument_name, '^[A-Z]+-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 1) end
            as expiry_code,
        regexp_extract(instrument_name, '^[A-Z]+-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 2) as strike_text,
        regexp_extract(instrument_name, '^[A-Z]+-(\d{1,2}[A-Z]{3}\d{2})-(\d+)-([CP])$', 3) as type_code
    from deduplicated
),

renamed as (
    select
        partition_date as snapshot_date,
        currency,
        instrument_name,
        creation_time,
        cast(strptime(expiry_code, '%d%b%y') as date) as expiry_date,
        cast(strptime(expiry_code, '%d%b%y') as timestamp) + interval 8 hour as expiry_ts,
        cast(strike_text as double) as strike,
        case type_code when 'C' then 'call' when 'P' then 'put' end as option_type,
        -- Inverse options: one contract is one coin of `currency`; prices are quoted in that coin.
        cast(open_interest as double) as open_interest,
        cast(mark_iv as double) as mark_iv,
        cast(mark_price as double) as mark_price,
        bid_price,
        ask_price,
        cast(volume as double) as volume,
        underlying_index,
        cast(underlying_price as double) as forward_usd,
        cast(estimated_delivery_price as double) as index_usd,
        _landing_file,
        _loaded_at
    from named
)

select * from renamed
