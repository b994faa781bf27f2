-- How each venue's stream was covered per day (pipelines/ingest/stream_days.py): seconds covered by a connected
-- collector, the gaps and their reasons, frames, duplicates and quarantined frames, and whether the venue's feed is
-- a throttled sample (its figures then a lower bound).
select
    partition_date as date,
    venue as exchange,
    status as load_status,
    throttled,
    files,
    hours_with_file,
    files_not_sealed,
    interrupted_files,
    covered_s,
    uncovered_s,
    longest_gap_s,
    gaps,
    gap_list,
    frames,
    data_frames,
    frames_quarantined,
    orders,
    duplicates,
    orders_not_followed
from {{ source('raw', 'liquidation_stream__coverage') }}
