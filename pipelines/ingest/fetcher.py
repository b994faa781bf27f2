"""The fetcher seam: one interface, one implementation per source mode.

`DemoFetcher` (pipelines.demo.fetcher) answers from the market simulator; the live HTTP client
(a later issue) answers from the real public APIs. Both return the exact bytes of a response body,
which the extract step archives before anything parses them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PollWindow:
    """A poll of a rolling source: what it serves at `at`, walked back until `since` is passed (both UTC)."""

    at: dt.datetime
    since: dt.datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.since.tzinfo is None:
            raise ValueError("a poll's times must be timezone-aware (UTC)")
        if self.since > self.at:
            raise ValueError(f"a poll cannot reach back to {self.since}, after it is sent ({self.at})")


@dataclass(frozen=True)
class FetchRequest:
    """One GET request for one (source, dataset, partition day), or for the consecutive days day … last_day.

    A range request (a backfill asking 1000 daily klines at once) sets `last_day`; a one-day request leaves it
    None, and a range of one day is normalised to that, so each day has one way to be asked for.

    A poll (pipelines.polling) sets `poll`: it asks for what a rolling source serves at `poll.at`, whatever day
    that holds; its `day` is the UTC date of `poll.at`, the folder it lands in (`poll=YYYY-MM-DD`).
    """

    source: str
    dataset: str
    day: dt.date
    url: str
    params: dict[str, str] = field(default_factory=dict)
    last_day: dt.date | None = None
    poll: PollWindow | None = None

    def __post_init__(self) -> None:
        if self.poll is not None:
            if self.last_day is not None or self.day != self.poll.at.astimezone(dt.UTC).date():
                raise ValueError(f"a poll's day is the UTC date of its time {self.poll.at}, and it has no range")
        if self.last_day is not None:
            if self.last_day < self.day:
                raise ValueError(f"range request ends ({self.last_day}) before it starts ({self.day})")
            if self.last_day == self.day:
                object.__setattr__(self, "last_day", None)

    @property
    def through(self) -> dt.date:
        """The last day the request asks for (its only day unless it is a range)."""
        return self.last_day or self.day

    @property
    def span_days(self) -> int:
        return (self.through - self.day).days + 1


@dataclass(frozen=True)
class FetchedBody:
    """What came back: status, the exact body bytes, and when (UTC, timezone-aware)."""

    request: FetchRequest
    status: int
    body: bytes
    fetched_at: dt.datetime


class Fetcher(Protocol):
    def fetch(self, request: FetchRequest) -> FetchedBody: ...

    def request_time(self, day: dt.date) -> dt.datetime:
        """When a request for `day` is sent: now (live), or the day's simulated nightly fetch time (demo)."""
        ...

    def serves_present_of(self, day: dt.date) -> bool:
        """Whether the source's present state counts as `day`'s snapshot (for now-only datasets).

        Live: only for yesterday, the partition the nightly run fetches just after midnight UTC.
        Demo: always, since the simulator fetches each day at its own simulated nightly time.
        """
        ...
