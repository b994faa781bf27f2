{#- The open-interest-of-the-day datasets (Binance, Bybit, OKX) share one shape: the values at 00:00 UTC of the day
    (start) and of the next day (end), both read from the day's own partition. Bybit serves BTC only: its USD
    columns are null here and valued at the day's consolidated prices in the mart. -#}
{% macro stg_open_interest_day(raw_table, exchange, has_usd) -%}
with deduplicated as (
    {{ deduplicate_latest(source('raw', raw_table), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        '{{ exchange }}' as exchange,
        start_time,
        end_time,
        cast(open_interest_start_btc as double) as open_interest_start_btc,
        cast(open_interest_end_btc as double) as open_interest_end_btc,
        {%- if has_usd %}
        cast(open_interest_start_usd as double) as open_interest_start_usd,
        cast(open_interest_end_usd as double) as open_interest_end_usd,
        {%- else %}
        cast(null as double) as open_interest_start_usd,
        cast(null as double) as open_interest_end_usd,
        {%- endif %}
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
{%- endmacro %}
