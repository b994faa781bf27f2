{#- The liquidation figures of a group of orders (fct_liquidation_events rows: liquidated_position, notional_usd,
    size_btc, order_key), as select-list items. Each floating-point sum adds its rows in a fixed order (order_key):
    a sum over rows in whatever order a parallel join left them would differ in the last bits from run to run, and
    the marts must be identical when rebuilt. `total_liquidated_usd` is added up over every order, not as long +
    short, so a test of total = long + short catches an order of neither side. -#}
{% macro liquidation_sums() -%}
        coalesce(sum(notional_usd order by order_key) filter (where liquidated_position = 'long'), 0)
            as long_liquidated_usd,
        coalesce(sum(notional_usd order by order_key) filter (where liquidated_position = 'short'), 0)
            as short_liquidated_usd,
        sum(notional_usd order by order_key) as total_liquidated_usd,
        coalesce(sum(size_btc order by order_key) filter (where liquidated_position = 'long'), 0)
            as long_liquidated_btc,
        coalesce(sum(size_btc order by order_key) filter (where liquidated_position = 'short'), 0)
            as short_liquidated_btc,
        count(*) as orders,
        max(notional_usd) as largest_order_usd
{%- endmacro %}

{#- The 'all' row's sums of the per-exchange figures, in exchange order (the same reason). -#}
{% macro liquidation_sums_over_exchanges() -%}
        sum(long_liquidated_usd order by exchange) as long_liquidated_usd,
        sum(short_liquidated_usd order by exchange) as short_liquidated_usd,
        sum(total_liquidated_usd order by exchange) as total_liquidated_usd,
        sum(long_liquidated_btc order by exchange) as long_liquidated_btc,
        sum(short_liquidated_btc order by exchange) as short_liquidated_btc,
        sum(orders) as orders,
        max(largest_order_usd) as largest_order_usd
{%- endmacro %}
