-- Every OKX day the run wrote has its coverage: the run's extract has just loaded each day of its window from
-- every archived poll reaching into it (pipelines/ingest/polls.py), and recorded the coverage beside the load.
-- A null here means the join to the load log lost it, or the day's rows were not the ones just loaded. Only the
-- run's window: a day loaded before coverage was recorded (a warehouse from before the hourly polls) keeps null
-- coverage until it is loaded again, and a hand-run `dbt build` over it names it here.
select date, exchange, orders, polls
from {{ ref('fct_liquidations_daily') }}
where exchange = 'okx'
  and polls is null
  and {{ in_window('date') }}
