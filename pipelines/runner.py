"""Materialise every asset for a range of daily partitions in one Dagster run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.definitions import build_definitions
from pipelines.settings import Settings


class RangeError(ValueError):
    pass


def validate_range(settings: Settings, first: dt.date, last: dt.date, today: dt.date) -> None:
    if last < first:
        raise RangeError(f"END {last} is before START {first}")
    if first < settings.start_date:
        raise RangeError(f"START {first} is before the first partition (BTCW_START_DATE={settings.start_date})")
    if last >= today:
        raise RangeError(f"END {last} has not closed yet (UTC today is {today}); the last partition is yesterday")


def range_job(settings: Settings) -> dg.JobDefinition:
    return build_definitions(settings).resolve_implicit_global_asset_job_def()


def materialize_range(
    settings: Settings,
    first: dt.date,
    last: dt.date,
    instance: dg.DagsterInstance,
    log_level: str = "INFO",
    run_id: str | None = None,
    job: dg.JobDefinition | None = None,
) -> dg.ExecuteInProcessResult:
    """Partitions first..last (inclusive), every asset, one run: the single-run backfill policy hands each
    asset the whole window, so dbt is invoked once."""
    validate_range(settings, first, last, dt.datetime.now(dt.UTC).date())
    job = job or range_job(settings)
    return job.execute_in_process(
        instance=instance,
        run_id=run_id,
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
