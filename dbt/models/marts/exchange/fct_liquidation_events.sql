{{ config(unique_key=['date', 'order_key']) }}

-- One row per liquidation order of any venue: an analyst sums any rolling 24 hours from here (the BI copy has it).
-- The streams (Binance, Bybit, OKX) first; then OKX's REST poll, which serves the same BTC-USDT-SWAP orders with
-- the same published fields: a polled order the stream also delivered is the same order (same instrument, time,
-- side, bankruptcy price and size) and is kept once, from the stream; one the stream missed (a disconnection, a
-- collector not running, days before it was started) comes from the poll.

with stream as (
    select date, exchange, instrument, market, contract_type, liquidated_position, price, quantity, quantity_unit,
           size_btc, notional_usd, liquidated_at, received_at, order_key
    from {{ ref('stg_liquidation_stream__orders') }}
    where {{ in_window('date') }}
),

rest as (
    select date, exchange, inst_id, liquidated_position, bankruptcy_price, size_contracts, size_btc, notional_usd,
           liquidated_at
    from {{ ref('stg_okx__liquidation_orders') }}
    where {{ in_window('date') }}
),

rest_only as (
    select
        r.date,
        r.exchange,
        r.inst_id as instrument,
        'SWAP' as market,
        'linear' as contract_type,
        r.liquidated_position,
        r.bankruptcy_price as price,
        r.size_contracts as quantity,
        'contracts' as quantity_unit,
        r.size_btc,
        r.notional_usd,
        r.liquidated_at,
        cast(null as timestamp) as received_at,
        -- The stream's key format (pipelines.sources.liquidation_streams.order_key) up to decimal spelling, and
        -- marked: a polled order has no received_at.
        concat_ws('|', 'okx', r.inst_id, epoch_ms(r.liquidated_at), r.liquidated_position,
                  cast(r.bankruptcy_price as varchar), cast(r.size_contracts as varchar), 'rest') as order_key
    from rest as r
    where not exists (
        select 1 from stream as s
        where s.exchange = r.exchange and s.instrument = r.inst_id and s.liquidated_at = r.liquidated_at
          and s.liquidated_position = r.liquidated_position and s.price = r.bankruptcy_price
          and s.quantity = r.size_contracts
    )
),

combined as (
    select *, 'stream' as via from stream
    union all
    select *, 'rest' as via from rest_only
)

select
    cast(date as date) as date,
    cast(exchange as varchar) as exchange,
    cast(instrument as varchar) as instrument,
    cast(market as varchar) as market,
    cast(contract_type as varchar) as contract_type,
    cast(liquidated_position as varchar) as liquidated_position,
    cast(price as double) as price,
    cast(quantity as double) as quantity,
    cast(quantity_unit as varchar) as quantity_unit,
    cast(size_btc as double) as size_btc,
    cast(notional_usd as double) as notional_usd,
    cast(liquidated_at as timestamp) as liquidated_at,
    cast(received_at as timestamp) as received_at,
    cast(via as varchar) as via,
    cast(order_key as varchar) as order_key
from combined
