with deduplicated as (
    -- A block belongs to the day of its own timestamp, so a height is in one partition only; keep the newest
    -- load of each (partition, height) in case the table was loaded outside the pipeline.
    {{ deduplicate_latest(source('raw', 'mempool__blocks'), ['partition_date', 'height']) }}
),

renamed as (
    select
        partition_date as date,
        height,
        block_hash,
        block_time,
        cast(tx_count as integer) as tx_count,
        size_bytes,
        weight,
        cast(difficulty as double) as difficulty,
        -- Retargets happen at heights that are multiples of 2016: the first block of each epoch.
        height // 2016 as epoch,
        height % 2016 = 0 as is_retarget,
        reward_sats,
        total_fees_sats,
        subsidy_sats,
        cast(reward_sats / 1e8 as double) as reward_btc,
        cast(total_fees_sats / 1e8 as double) as fees_btc,
        cast(subsidy_sats / 1e8 as double) as subsidy_btc,
        pool_name,
        pool_slug,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
