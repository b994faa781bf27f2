{{ stg_binance_long_short_ratio('binance__top_trader_position_ratio') }}
