"""The polls between nightly runs, as the `hourly_polls` schedule sends them in live mode: pipelines.polling's own
entry point, at each tick of the configured cron (BTCW_POLL_CRON, default 5 past every hour), against the local
server with the clock at the tick."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.polling.cadence import ticks
from pipelines.polling.poller import PollOutcome, poll_now
from pipelines.settings import Settings


@dataclass(frozen=True)
class TickPolls:
    at: dt.datetime
    outcomes: tuple[PollOutcome, ...]

    @property
    def failed(self) -> tuple[PollOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)


def poll_times(cron: str, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """The schedule's ticks in (after, until]."""
    return [at for at in ticks(cron, after, until) if after < at <= until]


def poll_at(settings: Settings) -> TickPolls:
    """One tick: every rolling source polled at the settings' (simulated) instant, archived in its landing tree."""
    return TickPolls(settings.now(), tuple(poll_now(settings)))
