with deduplicated as (
    -- Raw holds one row per print already; this guards against a table loaded outside the pipeline.
    {{ deduplicate_latest(source('raw', 'binance__funding_rate'), ['partition_date', 'funding_time']) }}
),

renamed as (
    select
        partition_date as date,
        'binance' as exchange,
        symbol,
        funding_time,
        funding_time_ms,
        cast(funding_rate as double) as funding_rate,
        cast(mark_price as double) as mark_price,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
