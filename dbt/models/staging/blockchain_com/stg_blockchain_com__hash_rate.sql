with source as (
    select * from {{ source('raw', 'blockchain_com__hash_rate') }}
),

deduplicated as (
    select * from source
    qualify row_number() over (partition by partition_date order by _loaded_at desc) = 1
),

renamed as (
    select
        -- blockchain.com labels a day by the midnight that STARTS it (mempool: the one ending it); the parser
        -- kept the point labelled partition_date 00:00, so both sources' `date` is the day the blocks cover.
        partition_date as date,
        point_time,
        cast(hashrate_ths as double) as hashrate_ths,
        cast(hashrate_ths / 1e6 as double) as hashrate_ehs,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
