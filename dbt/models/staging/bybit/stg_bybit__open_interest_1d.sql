with deduplicated as (
    {{ deduplicate_latest(source('raw', 'bybit__open_interest_1d'), ['partition_date']) }}
),

renamed as (
    select
        partition_date as date,
        'bybit' as exchange,
        'BTCUSDT' as symbol,
        -- The row stamped D 00:00 UTC is the open interest at the START of day D (= the end of D - 1).
        timestamp as snapshot_ts,
        cast(open_interest_btc as double) as open_interest_btc,
        _landing_file,
        _loaded_at
    from deduplicated
)

select * from renamed
