with deduplicated as (
    {{ deduplicate_latest(source('raw', 'blockchain_com__hash_rate'), ['partition_date']) }}
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
