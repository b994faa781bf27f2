"""The nightly schedule: yesterday and the two days before it, in one run, after exchanges close the UTC day."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

NIGHTLY_JOB = "nightly_all_assets"
# The run queue's lanes (dagster.yaml): runs tagged as warehouse writers go one at a time (DuckDB takes one writer
# process); poll runs (pipelines.polling.jobs) write only the landing archive and have a lane of their own.
RUN_LANE_TAG = "btcw/lane"
WRITER_LANE = "warehouse_writer"
POLL_LANE = "poll"
# Late data: exchanges revise the last candle rarely, but mempool's daily hash-rate row and blockchain.com's chart
# settle over the following day or two, and a night the sources were down is caught up the next night.
RERUN_DAYS = 3
# A step that still fails after HTTP-level retries (minutes) gets the source a quarter of an hour, then more.
NIGHTLY_RETRY = dg.RetryPolicy(max_retries=2, delay=900, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def nightly_window(scheduled_at: dt.datetime, first_partition: dt.date, days: int = RERUN_DAYS) -> tuple[dt.date, dt.date]:
    """Inclusive (first, last) days for a tick: the `days` days ending yesterday (UTC), never before the first partition."""
    yesterday = scheduled_at.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return max(first_partition, yesterday - dt.timedelta(days=days - 1)), yesterday


# Dagster creates every schedule stopped: say so where people look for it (the UI shows the description).
SCHEDULE_OFF_NOTE = ("{what}. Off until turned on: in the Dagster UI (Automation › the schedule › toggle) or "
                     "`dagster schedule start <name>`; the daemon must run (`make dev` starts it).")


def build_nightly_schedule(partitions_def: dg.DailyPartitionsDefinition) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(NIGHTLY_JOB, selection=dg.AssetSelection.all(), partitions_def=partitions_def,
                              op_retry_policy=NIGHTLY_RETRY, tags={RUN_LANE_TAG: WRITER_LANE})
    first_partition = partitions_def.start.date()

    # 00:30 UTC: daily candles close at 00:00 and mempool publishes the day's hash-rate row at midnight.
    @dg.schedule(name="nightly", cron_schedule="30 0 * * *", execution_timezone="UTC", job=job,
                 description=SCHEDULE_OFF_NOTE.format(what="Every night at 00:30 UTC, one run of the last three "
                                                           "days (the newest day and the two before it)"))
    def _nightly(context: dg.ScheduleEvaluationContext):
        first, last = nightly_window(context.scheduled_execution_time, first_partition)
        # One run for the range: the single-run backfill policy hands every asset the 3-day window, dbt runs once.
        yield dg.RunRequest(
            run_key=f"nightly-{last.isoformat()}",
            tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        )

    return _nightly
