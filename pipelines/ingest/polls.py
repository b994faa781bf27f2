"""Reading a rolling source's archived polls back: which polls reach into a day, and how well they cover it.

A poll (pipelines.polling) archived what the source served at its moment `at`, walked back to `since`. Read back,
each poll is one of:
- ok: every page is data; it covers [covered_from, at], where covered_from is `since` when the walk passed it,
  or when the feed ran out below the row cap (it served all it had, within its retention); when it ran out AT
  the cap, older rows may have been dropped by the source: covered_from is the oldest row it saw, and the
  poll is flagged `capped`;
- failed: an error status or error envelope on a page, a body that is not data, or a walk cut short (pages
  without their listing). Its bodies stay archived; it covers nothing. A walk cut short with every archived page
  data was stopped by our side (a kill, a full disk), not by the source: it is flagged `interrupted`, and the
  demo's schedule sends it again (the same pages, write-once, then the rest).

A day's coverage (`DayCoverage`, written to raw.load_log and marts.fct_liquidations_daily):
- polls: ok polls whose window reaches into the day; polls_failed: failed polls sent while the day was being
  covered (between the poll before the day and the first ok poll after it);
- longest_gap: the longest time between consecutive ok polls over the day, edges included: from the last ok poll
  at or before the day's start (none: the first poll's covered_from, or the day's start if that is later) to
  the first ok poll at or after its end (none yet: the day's end);
- uncovered: the stretches of the day no ok poll covered (rows there may be lost for good);
- row_cap_hit: an ok poll reaching into the day ran out at the row cap (possible truncation).
The newest day-partition fetch of the dataset (`date=` folder: the nightly fetches from before polling) is read
as one more poll sent at its fetched_at, reaching back to the day's start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pipelines.ingest.archive import ArchivedFetch, ArchiveError, LandingArchive
from pipelines.ingest.envelopes import envelope_error
from pipelines.ingest.errors import FetchError, PipelineDataError
from pipelines.sources.spec import DatasetSpec

DAY = dt.timedelta(days=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _from_ms(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _short(moment: dt.datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class PollRecord:
    """One archived poll, judged."""

    fetch: ArchivedFetch | None  # None: a walk cut short (no complete fetch to read)
    at: dt.datetime
    since: dt.datetime
    ok: bool
    reason: str = ""  # why it failed
    covered_from: dt.datetime | None = None
    capped: bool = False
    rows: int = 0  # distinct rows served, any day
    interrupted: bool = False  # a walk cut short though every page archived was data (a kill, a full disk)

    def reaches_into(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.ok and self.covered_from < end and self.at > start


@dataclass(frozen=True)
class DayCoverage:
    polls: int
    polls_failed: int
    longest_gap: dt.timedelta
    gap_between: tuple[dt.datetime, dt.datetime]  # the ends of the longest gap
    uncovered: tuple[tuple[dt.datetime, dt.datetime], ...]
    capped_polls: tuple[dt.datetime, ...]  # when the polls that ran out at the row cap were sent
    failed_reasons: tuple[str, ...] = field(default=())

    @property
    def row_cap_hit(self) -> bool:
        return bool(self.capped_polls)

    @property
    def uncovered_seconds(self) -> int:
        return int(sum((b - a for a, b in self.uncovered), dt.timedelta()).total_seconds())

    def problems(self, max_gap: dt.timedelta) -> list[str]:
        """Why the day's coverage may be incomplete, one phrase each (empty: complete as far as polls can tell)."""
        found = []
        if self.capped_polls:
            found.append(f"{len(self.capped_polls)} poll(s) ran out at the row cap (possible truncation; first sent "
                         f"{_short(self.capped_polls[0])})")
        if self.longest_gap > max_gap:
            a, b = self.gap_between
            found.append(f"longest gap between polls {self.longest_gap} ({_short(a)} to {_short(b)}) is over "
                         f"{max_gap}" + (f", {self.polls_failed} failed poll(s)" if self.polls_failed else ""))
        if self.uncovered:
            stretches = ", ".join(f"{_short(a)} to {_short(b)}" for a, b in self.uncovered[:3])
            found.append(f"no poll covered {self.uncovered_seconds} s of the day ({stretches}"
                         f"{' …' if len(self.uncovered) > 3 else ''}): orders there may be lost")
        return found


@dataclass(frozen=True)
class PolledDay:
    """Everything archived for a day of a polled dataset: the ok polls reaching into it, and its coverage."""

    day: dt.date
    fetches: tuple[ArchivedFetch, ...]  # oldest first
    coverage: DayCoverage

    @property
    def first(self):
        """The newest poll's first page: the file the load log points an engineer to."""
        return self.fetches[-1].first

    @property
    def fetched_at(self) -> dt.datetime:
        return self.fetches[-1].fetched_at


def judge(spec: DatasetSpec, fetch: ArchivedFetch, day_fetch_of: dt.date | None = None) -> PollRecord:
    """A complete archived poll (or, with `day_fetch_of`, a day-partition fetch read as one) as a PollRecord."""
    assert spec.poll is not None
    meta = fetch.first.meta
    at = _utc(dt.datetime.fromisoformat(meta.get("poll_at") or meta["fetched_at"]))
    since = _day_start(day_fetch_of) if day_fetch_of else _utc(dt.datetime.fromisoformat(meta["poll_since"]))
    keys: set[tuple] = set()
    try:
        for page in fetch.pages:
            if page.status != 200:
                return PollRecord(fetch, at, since, False, f"HTTP {page.status} (body archived at {page.path})")
            body = page.read_body()
            problem = envelope_error(spec.source, body)
            if problem:
                return PollRecord(fetch, at, since, False, f"{problem} (body archived at {page.path})")
            keys.update(spec.poll.served_keys(body))
    except (ArchiveError, PipelineDataError) as error:
        return PollRecord(fetch, at, since, False, str(error))
    oldest = _from_ms(min(k[0] for k in keys)) if keys else None
    passed = oldest is not None and oldest < since
    capped = not passed and spec.poll.row_cap is not None and len(keys) >= spec.poll.row_cap
    covered_from = oldest if capped else max(since, at - spec.poll.retention) if not passed else since
    return PollRecord(fetch, at, since, True, covered_from=covered_from, capped=capped, rows=len(keys))


class PollReader:
    """Judges each archived poll once, however many days of a window it reaches into."""

    def __init__(self, archive: LandingArchive, spec: DatasetSpec):
        if spec.poll is None:
            raise ValueError(f"{spec.name} is not a polled dataset")
        self.archive = archive
        self.spec = spec
        self._by_date: dict[dt.date, list[PollRecord]] = {}

    def sent_on(self, day: dt.date) -> list[PollRecord]:
        """The polls sent on the UTC date `day` (complete or cut short), oldest first."""
        if day not in self._by_date:
            complete, cut = self.archive.polls(self.spec.source, self.spec.dataset, day)
            records = [judge(self.spec, fetch) for fetch in complete]
            folder = self.archive.poll_dir(self.spec.source, self.spec.dataset, day)
            for stem in cut:
                at = dt.datetime.strptime(stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
                records.append(PollRecord(None, at, at, False, f"walk cut short: pages of {folder / stem} "
                                                               "without their listing",
                                          interrupted=self._all_data(self.archive.pages_of(folder, stem))))
            self._by_date[day] = sorted(records, key=lambda r: r.at)
        return self._by_date[day]

    def _all_data(self, pages: list) -> bool:
        """Whether every archived page of a walk is data (a 200 without error envelope): nothing refused it."""
        try:
            return all(p.status == 200 and not envelope_error(self.spec.source, p.read_body()) for p in pages)
        except ArchiveError:
            return False

    def note(self, record: PollRecord) -> None:
        """A poll just sent (and archived): counted from now on without reading its folder again (in place of an
        interrupted walk sent again at the same moment)."""
        day = record.at.date()
        if day in self._by_date:
            kept = [r for r in self._by_date[day] if not (r.interrupted and r.at == record.at)]
            self._by_date[day] = sorted([*kept, record], key=lambda r: r.at)

    def newest_ok_before(self, at: dt.datetime, days_back: int = 2) -> PollRecord | None:
        """The newest ok poll sent strictly before `at` (looking back `days_back` dates at most)."""
        for offset in range(days_back + 1):
            found = [r for r in self.sent_on(at.date() - dt.timedelta(days=offset)) if r.ok and r.at < at]
            if found:
                return found[-1]
        return None

    def day(self, day: dt.date) -> PolledDay:
        """The day's ok polls and coverage; FetchError when no ok poll reaches into it."""
        spec = self.spec
        start, end = _day_start(day), _day_start(day) + DAY
        records = [r for d in (day - DAY, day, day + DAY) for r in self.sent_on(d)]
        legacy = self.archive.newest_fetch(spec.source, spec.dataset, day)  # the newest answers, as before polls
        records += [judge(spec, legacy, day_fetch_of=day)] if legacy else []
        records.sort(key=lambda r: r.at)
        ok = [r for r in records if r.ok]
        reaching = [r for r in ok if r.reaches_into(start, end)]
        if not reaching:
            failed = [r for r in records if not r.ok and start <= r.at < end + DAY]
            why = "; ".join(f"{_short(r.at)}: {r.reason}" for r in failed[:3])
            raise FetchError(spec.source, spec.dataset, day,
                             f"no successful poll covers the day ({spec.history}); "
                             + (f"{len(failed)} failed poll(s): {why}" if failed else
                                f"none archived under {self.archive.dataset_dir(spec.source, spec.dataset)}"
                                f"/poll={day.isoformat()} or the day after"))
        return PolledDay(day, tuple(r.fetch for r in reaching), coverage_of(records, start, end))


def coverage_of(records: list[PollRecord], start: dt.datetime, end: dt.datetime) -> DayCoverage:
    """The coverage of [start, end) by the judged polls `records` (sorted by `at`; see the module docstring)."""
    ok = [r for r in records if r.ok]
    reaching = [r for r in ok if r.reaches_into(start, end)]
    before = [r.at for r in ok if r.at <= start]
    if before:
        first_point = before[-1]
    else:
        first_point = min(reaching[0].covered_from, start) if reaching and reaching[0].covered_from <= start else start
    after = [r.at for r in ok if r.at >= end]
    last_point = after[0] if after else end
    points = [first_point, *[r.at for r in ok if start < r.at < end], last_point]
    gaps = [(b - a, a, b) for a, b in zip(points, points[1:])]
    longest, a, b = max(gaps, key=lambda g: g[0])
    failed = [r for r in records if not r.ok and first_point < r.at < last_point]
    # The covered stretches of the day, merged; what is left is uncovered.
    spans = sorted((max(r.covered_from, start), min(r.at, end)) for r in reaching)
    uncovered, cursor = [], start
    for lo, hi in spans:
        if lo > cursor:
            uncovered.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        uncovered.append((cursor, end))
    return DayCoverage(
        polls=len(reaching),
        polls_failed=len(failed),
        longest_gap=longest,
        gap_between=(a, b),
        uncovered=tuple(uncovered),
        capped_polls=tuple(r.at for r in reaching if r.capped),
        failed_reasons=tuple(f"{_short(r.at)}: {r.reason}" for r in failed),
    )


def read_polled_window(archive: LandingArchive, spec: DatasetSpec, days: list[dt.date]
                       ) -> dict[dt.date, PolledDay | PipelineDataError]:
    reader = PollReader(archive, spec)
    answers: dict[dt.date, PolledDay | PipelineDataError] = {}
    for day in days:
        try:
            answers[day] = reader.day(day)
        except PipelineDataError as error:
            answers[day] = error
    return answers
