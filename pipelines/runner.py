"""Materialise every asset for a range of daily partitions in one Dagster run."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.settings import START_DATE_ENV, Settings

# A ranged run's planned materializations: one event per asset carrying the window's partition subset, instead
# of Dagster's default one event per asset per partition (49 assets x 202 days = 9,898 events, each a SQLite
# write that slows as the table grows: half of a 202-day backfill's wall time went by before its first step).
# Partition status is unaffected: materialized partitions come from the per-partition ASSET_MATERIALIZATION
# events. The cost, documented by Dagster: on this SQLite instance a FAILED ranged run no longer marks its
# partitions "failed" (nor "in progress" while it runs) in the asset's partition view; the run, its steps and the
# backfill's own failure accounting (run tags) still say what failed.
# Dagster reads the variable when it creates a run, in the process that creates it: set here for every run this
# module creates (`make backfill`/`make run`, the benchmark, tests), and exported by the Makefile for
# `make dev`, whose daemon and webserver create the UI's backfills and scheduled runs without importing us.
# setdefault: an operator who exports it (e.g. =false, to get per-partition failure marking back) wins.
PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
os.environ.setdefault(PLANNED_EVENTS_ENV, "true")


class RangeError(ValueError):
    pass


def validate_range(settings: Settings, first: dt.date, last: dt.date, today: dt.date) -> None:
    if last < first:
        raise RangeError(f"END {last} is before START {first}")
    if first < settings.start_date:
        raise RangeError(f"START {first} is before the first partition, {settings.start_date} "
                         f"({settings.source_mode.value} mode): set {START_DATE_ENV}={first} (or earlier) to "
                         "backfill it")
    if last >= today:
        raise RangeError(f"END {last} has not closed yet (UTC today is {today}); the last partition is yesterday")


def range_job(settings: Settings) -> dg.JobDefinition:
    # Imported here, not at the top: the CLI checks a range (validate_range) before the pipeline's code is loaded.
    from pipelines.definitions import build_definitions

    return build_definitions(settings).resolve_implicit_global_asset_job_def()


def materialize_range(
    settings: Settings,
    first: dt.date,
    last: dt.date,
    instance: dg.DagsterInstance,
    log_level: str = "INFO",
    run_id: str | None = None,
    job: dg.JobDefinition | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Partitions first..last (inclusive), every asset, one run: the single-run backfill policy hands each
    asset the whole window, so dbt is invoked once. `tags` are added to the run's (the CLI names its process there,
    pipelines.runs.orphans)."""
    # The run's clock: real UTC, or the simulated instant the soak sets for the night (Settings.now).
    validate_range(settings, first, last, settings.now().date())
    job = job or range_job(settings)
    return job.execute_in_process(
        instance=instance,
        run_id=run_id,
        tags={**(tags or {}), ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
              ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
