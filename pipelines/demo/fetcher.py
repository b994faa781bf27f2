"""`DemoFetcher`: the Fetcher protocol answered by the market simulator, at the nightly schedule's time."""

from __future__ import annotations

import datetime as dt

from pipelines.demo.api import DemoApi
from pipelines.ingest.fetcher import FetchedBody, FetchRequest

# The nightly schedule fetches partition D at D + 1 day, 00:30 UTC: every daily candle of D has closed.
SCHEDULE_TIME_UTC = dt.time(0, 30)


def scheduled_fetch_time(day: dt.date) -> dt.datetime:
    """When the nightly run fetches partition `day` (timezone-aware UTC)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), SCHEDULE_TIME_UTC, tzinfo=dt.timezone.utc)


class DemoFetcher:
    """Answers every request from the demo APIs as they would have answered at the scheduled fetch time."""

    def __init__(self, api: DemoApi | None = None):
        self.api = api or DemoApi()

    def fetch(self, request: FetchRequest) -> FetchedBody:
        # A range is fetched the night after its last day, as the nightly run would (all its days have closed);
        # a poll of a rolling source at the moment it is sent (pipelines.polling simulates the hourly schedule).
        fetched_at = request.poll.at.astimezone(dt.UTC) if request.poll else scheduled_fetch_time(request.through)
        status, body = self.api.respond(request.url, dict(request.params), fetched_at)
        return FetchedBody(request=request, status=status, body=body, fetched_at=fetched_at)

    def request_time(self, day: dt.date) -> dt.datetime:
        return scheduled_fetch_time(day)

    def serves_present_of(self, day: dt.date) -> bool:
        # Each day is fetched at its own simulated nightly time, when its snapshot is the present one.
        return True
