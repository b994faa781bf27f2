-- Open interest of day D is its end-of-day value, the next day's start: for consecutive rows of an exchange, D's
-- open_interest_btc must equal D + 1's open_interest_start_btc (both are the exchange's row stamped D + 1 00:00,
-- read by two partitions). A mismatch means a day was not rewritten when the next day's partition arrived (or was
-- reloaded), and the day's open-interest change is wrong.
with open_interest as (
    select date, exchange, open_interest_btc, open_interest_start_btc
    from {{ ref('fct_derivatives_daily') }}
    where open_interest_start_btc is not null
)

select today.date, today.exchange, today.open_interest_btc, tomorrow.open_interest_start_btc as next_day_start
from open_interest as today
join open_interest as tomorrow on tomorrow.exchange = today.exchange and tomorrow.date = today.date + interval 1 day
where today.open_interest_btc is distinct from tomorrow.open_interest_start_btc
  and ({{ in_any_rewritten_day('today.date') }} or {{ in_any_rewritten_day('tomorrow.date') }})
