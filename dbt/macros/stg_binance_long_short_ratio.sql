{#- Binance's two account long/short ratio feeds (top traders, all accounts) share one shape: one staging body. -#}
{% macro stg_binance_long_short_ratio(raw_table) -%}
with deduplicated as (
    {{ deduplicate_latest(source('raw', raw_table), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        'binance' as exchange,
        -- Binance's period=1d row stamped 00:00 UTC: the accounts' positions at the START of the day.
        timestamp as snapshot_ts,
        cast(long_short_ratio as double) as long_short_ratio,
        cast(long_account as double) as long_account_share,
        cast(short_account as double) as short_account_share,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
{%- endmacro %}
