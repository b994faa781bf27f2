{{ stg_open_interest_day('okx__open_interest_day', 'okx', true) }}
