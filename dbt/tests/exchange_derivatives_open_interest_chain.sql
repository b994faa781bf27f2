-- Open interest of day D is its end-of-day value, the next day's start: for consecutive Bybit rows, D's
-- open_interest_btc must equal D + 1's open_interest_start_btc. A mismatch means a day was not rewritten when
-- the next day's partition arrived (or was reloaded), and the day's open-interest change is wrong.
with bybit as (
    select date, open_interest_btc, open_interest_start_btc
    from {{ ref('fct_derivatives_daily') }}
    where exchange = 'bybit'
)

select today.date, today.open_interest_btc, tomorrow.open_interest_start_btc as next_day_start
from bybit as today
join bybit as tomorrow on tomorrow.date = today.date + interval 1 day
where today.open_interest_btc is distinct from tomorrow.open_interest_start_btc
