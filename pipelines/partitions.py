"""Daily UTC partitions; the last one is yesterday (a day is extracted once it has closed)."""

from __future__ import annotations

import datetime as dt

import dagster as dg


def daily_partitions(start_date: dt.date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def window_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partition window as a half-open interval of dates [start, end)."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()
