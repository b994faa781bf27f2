{{ stg_open_interest_day('binance__open_interest_day', 'binance', true) }}
