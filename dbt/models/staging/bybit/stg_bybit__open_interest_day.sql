{{ stg_open_interest_day('bybit__open_interest_day', 'bybit', false) }}
