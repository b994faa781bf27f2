-- Liquidation orders streamed by Binance, Bybit and OKX (the collector's hourly files, read and de-duplicated
-- by the daily load, pipelines/ingest/stream_days.py): one row per order, labelled by the UTC day of its event time.
select
    partition_date as date,
    venue as exchange,
    instrument,
    market,
    contract_type,
    side as liquidated_position,
    price,
    quantity,
    quantity_unit,
    btc as size_btc,
    -- Linear contracts: BTC × the published price; inverse ones: the contracts' USD face value.
    usd as notional_usd,
    cast(event_time as timestamp) as liquidated_at,
    received_at,
    order_key,
    _landing_file,
    _loaded_at
from {{ source('raw', 'liquidation_stream__orders') }}
