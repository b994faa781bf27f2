"""The nightly schedule: yesterday's partition of every asset, after exchanges close the UTC day."""

from __future__ import annotations

import dagster as dg

NIGHTLY_JOB = "nightly_all_assets"


def build_nightly_schedule(partitions_def: dg.PartitionsDefinition) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(NIGHTLY_JOB, selection=dg.AssetSelection.all(), partitions_def=partitions_def)
    # 00:30 UTC: daily candles close at 00:00 and mempool publishes the day's hash-rate row at midnight.
    return dg.build_schedule_from_partitioned_job(job, hour_of_day=0, minute_of_hour=30, name="nightly")
