-- Seconds covered, frames and orders of each venue's stream per UTC hour (pipelines/ingest/stream_days.py).
select
    partition_date as date,
    venue as exchange,
    hour,
    covered_s,
    frames,
    orders
from {{ source('raw', 'liquidation_stream__hours') }}
