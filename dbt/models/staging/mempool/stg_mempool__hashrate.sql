with deduplicated as (
    {{ deduplicate_latest(source('raw', 'mempool__hashrate'), ['partition_date']) }}
),

renamed as (
    select
        -- mempool labels a row by the midnight that ENDS its day; the parser already mapped it to that day.
        partition_date as date,
        label_time,
        cast(avg_hashrate_hs as double) as hashrate_hs,
        cast(avg_hashrate_hs / 1e18 as double) as hashrate_ehs,
        cast(difficulty as double) as difficulty,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
