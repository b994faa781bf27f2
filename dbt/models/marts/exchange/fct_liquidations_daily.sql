{{ config(unique_key=['date', 'exchange']) }}

with okx as (
    select date, exchange, liquidated_position, size_btc, notional_usd
    from {{ ref('stg_okx__liquidation_orders') }}
    where {{ in_window('date') }}
),

orders as (
    -- One row per liquidation order of any exchange: a new feed is one more `union all` here (and one more
    -- accepted value for `exchange`); the 'all' rows below add it up without change.
    select * from okx
),

per_exchange as (
    select
        date,
        exchange,
        coalesce(sum(notional_usd) filter (where liquidated_position = 'long'), 0) as long_liquidated_usd,
        coalesce(sum(notional_usd) filter (where liquidated_position = 'short'), 0) as short_liquidated_usd,
        -- Added up over every order, not as long + short: the singular test then catches an order of neither side.
        sum(notional_usd) as total_liquidated_usd,
        coalesce(sum(size_btc) filter (where liquidated_position = 'long'), 0) as long_liquidated_btc,
        coalesce(sum(size_btc) filter (where liquidated_position = 'short'), 0) as short_liquidated_btc,
        count(*) as orders,
        count(*) filter (where liquidated_position = 'long') as long_orders,
        count(*) filter (where liquidated_position = 'short') as short_orders,
        max(notional_usd) as largest_order_usd,
        1 as exchanges
    from orders
    group by date, exchange
),

all_exchanges as (
    select
        date,
        'all' as exchange,
        sum(long_liquidated_usd) as long_liquidated_usd,
        sum(short_liquidated_usd) as short_liquidated_usd,
        sum(total_liquidated_usd) as total_liquidated_usd,
        sum(long_liquidated_btc) as long_liquidated_btc,
        sum(short_liquidated_btc) as short_liquidated_btc,
        sum(orders) as orders,
        sum(long_orders) as long_orders,
        sum(short_orders) as short_orders,
        max(largest_order_usd) as largest_order_usd,
        count(*) as exchanges
    from per_exchange
    group by date
),

combined as (
    select * from per_exchange
    union all
    select * from all_exchanges
),

final as (
    select
        cast(date as date) as date,
        cast(exchange as varchar) as exchange,
        cast(long_liquidated_usd as double) as long_liquidated_usd,
        cast(short_liquidated_usd as double) as short_liquidated_usd,
        cast(total_liquidated_usd as double) as total_liquidated_usd,
        cast(orders as integer) as orders,
        cast(long_orders as integer) as long_orders,
        cast(short_orders as integer) as short_orders,
        cast(long_liquidated_btc as double) as long_liquidated_btc,
        cast(short_liquidated_btc as double) as short_liquidated_btc,
        cast(long_liquidated_usd / nullif(total_liquidated_usd, 0) * 100 as double) as long_share_pct,
        cast(largest_order_usd as double) as largest_order_usd,
        cast(exchanges as integer) as exchanges
    from combined
)

select * from final
