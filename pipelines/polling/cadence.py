"""The poll schedule's cron: validated, iterated, and the longest interval it leaves between two polls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

# Dagster's own cron iterator: the same one its daemon uses to tick the `hourly_polls` schedule, so the demo's
# simulated polls fall exactly where the scheduled ones would (a private module; pinned with dagster).
from dagster._utils.schedules import cron_string_iterator, is_valid_cron_string

DEFAULT_POLL_CRON = "5 * * * *"  # hourly, 5 minutes past: away from the nightly run's 00:30 and its first minutes
# A scheduled poll may start late (the daemon's tick, a queued run) or take a minute to walk its pages.
POLL_SLACK = dt.timedelta(minutes=15)


def valid_cron(cron: str) -> bool:
    return is_valid_cron_string(cron)


def ticks(cron: str, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """The schedule's ticks in [start, end), UTC."""
    for tick in cron_string_iterator((start - dt.timedelta(microseconds=1)).timestamp(), cron, "UTC"):
        tick = tick.astimezone(dt.UTC)
        if tick >= end:
            return
        if tick >= start:
            yield tick


def longest_interval(cron: str) -> dt.timedelta:
    """The longest time between two consecutive ticks over a sample (non-leap) year's first two weeks."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    times = list(ticks(cron, start, start + dt.timedelta(days=14)))
    if len(times) < 2:
        return dt.timedelta(days=14)
    return max(b - a for a, b in zip(times, times[1:]))


def max_expected_gap(cron: str) -> dt.timedelta:
    """A gap between consecutive polls longer than this means polls failed or did not run."""
    return longest_interval(cron) + POLL_SLACK
