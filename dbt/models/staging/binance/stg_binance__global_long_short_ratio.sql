{{ stg_binance_long_short_ratio('binance__global_long_short_ratio') }}
