with deduplicated as (
    {{ deduplicate_latest(source('raw', 'deribit__index_price'), ['partition_date']) }}
),

renamed as (
    select
        -- The day the snapshot stands for; it is taken after that day's close (the nightly run of D + 1,
        -- demo: D + 1 00:30 UTC), at snapshot_time (the server's usOut).
        partition_date as snapshot_date,
        snapshot_time,
        index_name,
        cast(index_price as double) as index_usd,
        cast(estimated_delivery_price as double) as estimated_delivery_usd,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
