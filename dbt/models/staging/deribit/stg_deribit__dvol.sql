{#- Deribit's volatility index of both currencies (one raw table each, the same fields): one row per day and
    currency, the UTC day's 1D candle in percent. -#}
{%- set indexes = [('BTC', 'deribit__btc_dvol'), ('ETH', 'deribit__eth_dvol')] %}

with deduplicated as (
    {%- for currency, table in indexes %}
    select '{{ currency }}' as index_currency, *
    from ({{ deduplicate_latest(source('raw', table), ['partition_date']) }})
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

renamed as (
    select
        partition_date as date,
        -- The raw table's currency (what the request asked), which must be the table's own (quality rules).
        index_currency as currency,
        candle_time,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
