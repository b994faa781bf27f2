with source as (
    select * from {{ source('raw', 'mempool__hashrate') }}
),

deduplicated as (
    select * from source
    qualify row_number() over (partition by partition_date order by _loaded_at desc) = 1
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
