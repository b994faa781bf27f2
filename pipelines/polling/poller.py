"""One poll of a rolling source, every rolling source at once, and the demo's replay of the schedule.

A poll sent at `at` asks what the source serves then, newest first, and walks back (the dataset's `next_page`)
until it passes `since` or the feed runs out. `since` = the newest ok poll before `at` minus the source's overlap,
never further back than its retention: a poll is a pure function of the archive and the time. Every page lands
write-once in the landing archive (`poll=<UTC date>`) through the same writer as any fetch, before anything checks
it; a poll that fails (HTTP error, error envelope, no response) is logged in one line and stops nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipelines.ingest.body_source import FetchingBodySource
from pipelines.ingest.errors import PipelineDataError
from pipelines.ingest.fetcher import PollWindow
from pipelines.ingest.polls import DAY, PollReader, PollRecord, judge
from pipelines.polling.cadence import ticks
from pipelines.resources import body_source_for
from pipelines.settings import Settings, SourceMode
from pipelines.sources.registry import DATASETS
from pipelines.sources.spec import DatasetSpec

log = logging.getLogger(__name__)


def rolling_datasets() -> tuple[DatasetSpec, ...]:
    """The datasets polled on the schedule (those whose DatasetSpec has a `poll`)."""
    return tuple(spec for spec in DATASETS if spec.poll is not None)


@dataclass(frozen=True)
class PollOutcome:
    spec: DatasetSpec
    at: dt.datetime
    since: dt.datetime
    ok: bool
    pages: int = 0
    rows: int = 0  # distinct rows served (any day)
    capped: bool = False
    landing_file: str | None = None  # the first page, when something was archived
    reason: str = ""

    def line(self) -> str:
        """One line for a log or a terminal: source, dataset, poll time (its UTC day) and what came of it."""
        head = f"{self.spec.name} poll at {self.at:%Y-%m-%dT%H:%M:%SZ} (day {self.at.date()})"
        if not self.ok:
            return f"{head} FAILED: {self.reason}"
        cap = f"; ran out at the row cap {self.spec.poll.row_cap}: rows before the oldest may be lost" \
            if self.capped else ""
        return (f"{head}: {self.rows} rows in {self.pages} page(s) back to {self.since:%Y-%m-%dT%H:%M:%SZ}{cap} "
                f"({self.landing_file})")


def poll_window(spec: DatasetSpec, reader: PollReader, at: dt.datetime) -> PollWindow:
    """From the newest ok poll before `at`, minus the overlap; at most the source's retention back."""
    assert spec.poll is not None
    at = at.astimezone(dt.UTC)
    since = at - spec.poll.retention
    previous = reader.newest_ok_before(at)
    if previous is not None:
        since = max(since, previous.at - spec.poll.overlap)
    return PollWindow(at, since)


def poll_once(body_source: FetchingBodySource, spec: DatasetSpec, at: dt.datetime,
              reader: PollReader | None = None, since: dt.datetime | None = None) -> PollOutcome:
    """Send one poll of `spec` at `at` (the fetcher's clock must read `at`: demo polls are answered as of
    `at`, live ones now). Never raises for a source's fault: the outcome says what happened. `since` fixes how far
    back it reaches (within the source's retention); by default from the newest ok poll archived before it."""
    reader = reader or PollReader(body_source.archive, spec)
    window = poll_window(spec, reader, at)
    if since is not None:
        window = PollWindow(window.at, max(since.astimezone(dt.UTC), window.at - spec.poll.retention))
    request = spec.poll.build_request(window)
    try:
        fetch = body_source.fetch_request(spec, request)
    except PipelineDataError as error:
        # Whatever came back is archived (fetch_request archives before it checks); the next poll reaches back
        # over this one's window, so a failed poll costs nothing unless the source rolls off in between.
        reader.note(PollRecord(None, window.at, window.since, False, error.reason))
        outcome = PollOutcome(spec, window.at, window.since, False, reason=error.reason)
        log.warning(outcome.line())
        return outcome
    record = judge(spec, fetch)
    reader.note(record)
    tree = body_source.archive.root.parent
    outcome = PollOutcome(spec, window.at, window.since, record.ok, len(fetch.pages), record.rows, record.capped,
                          _relative(fetch.first.path, tree), record.reason)
    (log.info if record.ok and not record.capped else log.warning)(outcome.line())
    return outcome


def _relative(path, tree) -> str:
    try:
        return path.relative_to(tree).as_posix()
    except ValueError:
        return str(path)


def poll_rolling_sources(body_source: FetchingBodySource, at: dt.datetime,
                         specs: Iterable[DatasetSpec] | None = None) -> list[PollOutcome]:
    """One poll of every rolling source (or of `specs`) at `at`: the hourly schedule's work, and the soak's.

    `body_source` carries the fetcher and the archive (pipelines.resources.body_source_for(settings)); `at` is
    the clock's reading (a simulated clock in the soak). A failed poll never stops the next."""
    if at.tzinfo is None:
        raise ValueError("a poll's time must be timezone-aware (UTC)")
    return [poll_once(body_source, spec, at) for spec in (rolling_datasets() if specs is None else specs)]


def poll_now(settings: Settings) -> list[PollOutcome]:
    """One poll of every rolling source at the run's clock, `settings.now()` (BTCW_SIMULATED_NOW when set, else the
    wall clock: the demo simulator and the live fetcher both answer as of it), through the mode's body source; what
    the hourly job, `make poll` and the soak's ticks send. Not for replay mode, which sends nothing."""
    if settings.source_mode is SourceMode.REPLAY:
        raise ValueError("replay mode sends no request: nothing to poll")
    body_source = body_source_for(settings)
    try:
        return poll_rolling_sources(body_source, settings.now().replace(microsecond=0))
    finally:
        close = getattr(body_source.fetcher, "close", None)
        if close is not None:
            close()


def scheduled_times(cron: str, days: Iterable[dt.date], nightly_time: Callable[[dt.date], dt.datetime]
                    ) -> list[dt.datetime]:
    """When polls of `days` are sent on the schedule: every tick from the last one before a day starts (the edge of
    its coverage) until the day's nightly fetch, that fetch (itself a poll), and the previous night's fetch, which
    falls inside the day. Sorted, UTC."""
    times: set[dt.datetime] = set()
    for day in days:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        nightly = nightly_time(day).astimezone(dt.UTC)
        times.update(list(ticks(cron, start - DAY, start))[-1:])
        times.update(ticks(cron, start, nightly))
        times.add(nightly)
        times.add(nightly_time(day - dt.timedelta(days=1)).astimezone(dt.UTC))
    return sorted(times)


def previous_tick(cron: str, at: dt.datetime) -> dt.datetime:
    """The schedule's last tick before `at` (UTC)."""
    return list(ticks(cron, at - DAY, at))[-1]


def _previous_send(cron: str, at: dt.datetime, nightly_time: Callable[[dt.date], dt.datetime]) -> dt.datetime:
    """The schedule's last send before `at`: a poll tick, or a nightly run's fetch (itself a poll)."""
    nightlies = [nightly_time(at.date() - dt.timedelta(days=k)).astimezone(dt.UTC) for k in (1, 2)]
    return max(previous_tick(cron, at), *(n for n in nightlies if n < at))


def _simulated_since(spec: DatasetSpec, reader: PollReader, cron: str, at: dt.datetime,
                     nightly_time: Callable[[dt.date], dt.datetime]) -> dt.datetime:
    """Back to the schedule's previous send, over those archived as failed (the poll after an outage reaches back
    over it, as a live poll does), less the overlap; at most the retention. The same window a live poll takes
    when every earlier send was made, so a demo day's polls are the ones a live day gets."""
    previous = _previous_send(cron, at, nightly_time)
    while at - previous < spec.poll.retention and any(
        record.at == previous and not record.ok and not record.interrupted for record in reader.sent_on(previous.date())
    ):
        previous = _previous_send(cron, previous, nightly_time)
    return previous - spec.poll.overlap


def simulate_schedule(body_source: FetchingBodySource, spec: DatasetSpec, days: list[dt.date], cron: str,
                      ) -> list[PollOutcome]:
    """Demo mode: send the polls the schedule would have sent for `days` (hourly ticks and the nightly fetches, at
    the fetcher's simulated times), in time order, skipping every one already archived (write-once: a rerun sends
    nothing). The demo thereby takes the same path as live data: polls → archive → every poll read back."""
    # Each simulated poll reaches back to the schedule's previous send (less the overlap), as it would have had the
    # schedule run all along, never to whatever happens to be archived: the polls of a day, and so its rows and its
    # coverage, are then the same whichever days were run first (a backfill in any order ends in the same tables).
    reader = PollReader(body_source.archive, spec)
    outcomes = []
    for at in scheduled_times(cron, days, body_source.fetcher.request_time):
        # A poll cut short by a kill or a full disk (its pages all data, its listing never written) was not refused
        # by the source: it is sent again, as the schedule's retry would, and replaces the cut one.
        if any(record.at == at and not record.interrupted for record in reader.sent_on(at.date())):
            continue
        since = _simulated_since(spec, reader, cron, at, body_source.fetcher.request_time)
        outcomes.append(poll_once(body_source, spec, at, reader, since=since))
    return outcomes
