-- How well the hourly polls covered each day of OKX liquidation orders: the coverage the extract recorded in
-- raw.load_log when it read the day from every archived poll reaching into it (pipelines/ingest/polls.py).
-- Only days whose latest load is 'loaded': a 'rejected' or 'failed' load left the raw partition as it was, so its
-- log row describes polls whose rows are not the ones in raw (the mart shows null coverage for such a day).
-- The dataset filter below must match `meta.load_log_datasets` in the yml: the Dagster translator reads that list
-- to make this view depend on the extract asset that writes these log rows (pipelines/assets/dbt_models.py).
select
    partition_date as date,
    'okx' as exchange,
    cast(polls as integer) as polls,
    cast(polls_failed as integer) as polls_failed,
    cast(first_event_at as timestamp) as first_event_at,
    cast(last_event_at as timestamp) as last_event_at,
    cast(longest_poll_gap_s as bigint) as longest_poll_gap_s,
    cast(uncovered_s as bigint) as uncovered_s,
    cast(row_cap_hit as boolean) as row_cap_hit,
    landing_file
from {{ source('raw', 'load_log') }}
where dataset = 'okx__liquidation_orders'
  and status = 'loaded'
