"""Where an extract gets the archived bodies of a (dataset, day): fetch-and-archive, or replay."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from urllib.parse import urlsplit

from pipelines.ingest.archive import ArchivedBody, ArchivedFetch, ArchiveError, LandingArchive
from pipelines.ingest.envelopes import envelope_error
from pipelines.ingest.errors import FetchError, MissingArchiveError, ParseError, PipelineDataError
from pipelines.ingest.fetcher import Fetcher, FetchRequest
from pipelines.ingest.polls import PolledDay, PollReader, read_polled_window
from pipelines.sources.region_block import region_block_advice
from pipelines.sources.spec import DatasetSpec

# Bodies larger than this are refused before they are read back, decoded or parsed. The largest a day needs are
# Deribit's BTC option listings: get_instruments is 554 kB for the demo's 822 instruments and the book summary
# 371 kB (the real 326-instrument chain of 2020-05-21: 140 kB); mempool's all-history hash-rate series, asked
# only for days over four years old, is ~6,000 daily rows of ~55 bytes (~0.4 MB). 16 MiB leaves 30x room for
# chains to grow; a body beyond it is not data of one day (a wrong endpoint's full history, a runaway page),
# and would cost seconds to decompress and parse twice per run.
MAX_BODY_BYTES = 16 * 2**20


class BodySource(Protocol):
    archive: LandingArchive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch | PolledDay: ...

    def obtain_window(self, spec: DatasetSpec, days: list[dt.date]
                      ) -> dict[dt.date, ArchivedFetch | PolledDay | PipelineDataError]:
        """The archived fetch answering for each day, or the error that stopped it (one bad day fails alone).
        A polled dataset's day is answered by every archived poll reaching into it (a PolledDay); the polls
        themselves are sent by pipelines.polling, never here."""
        ...


def consecutive_chunks(days: list[dt.date], max_days: int) -> list[list[dt.date]]:
    """`days` (ascending) cut into runs of consecutive days, each at most `max_days` long: the ranges to ask for."""
    chunks: list[list[dt.date]] = []
    for day in days:
        last = chunks[-1] if chunks else None
        if last and len(last) < max_days and day - last[-1] == dt.timedelta(days=1):
            last.append(day)
        else:
            chunks.append([day])
    return chunks


def _answer(obtain, spec: DatasetSpec, day: dt.date) -> ArchivedFetch | PipelineDataError:
    try:
        return obtain()
    except PipelineDataError as error:
        return error
    except ArchiveError as error:  # an archived file no longer matches its sha256: never parse it
        return ParseError(spec.source, spec.dataset, day, str(error))


def _each_day(obtain, spec: DatasetSpec, days: list[dt.date]) -> dict[dt.date, ArchivedFetch | PipelineDataError]:
    return {day: _answer(lambda day=day: obtain(spec, day), spec, day) for day in days}


class FetchingBodySource:
    """Demo and live modes: fetch (every page), archive whatever came back, then hand over the archived fetch."""

    def __init__(self, fetcher: Fetcher, archive: LandingArchive):
        self.fetcher = fetcher
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch | PolledDay:
        if getattr(spec, "poll", None) is not None:
            return PollReader(self.archive, spec).day(day)
        if not spec.backfillable and not self.fetcher.serves_present_of(day):
            return _archived_snapshot(self.archive, spec, day)
        return self._fetch(spec, spec.request_for(day, self.fetcher.request_time(day)))

    def obtain_window(self, spec: DatasetSpec, days: list[dt.date]) -> dict[dt.date, ArchivedFetch | PipelineDataError]:
        """Consecutive days of a range-capable dataset are asked for together, `spec.max_range_days` at a time;
        a range that fails fails each of its days with the range's reason."""
        if getattr(spec, "poll", None) is not None:
            return read_polled_window(self.archive, spec, days)
        if not spec.asks_ranges:
            return _each_day(self.obtain, spec, days)
        answers: dict[dt.date, ArchivedFetch | PipelineDataError] = {}
        for chunk in consecutive_chunks(days, spec.max_range_days):
            if len(chunk) == 1:
                answers.update(_each_day(self.obtain, spec, chunk))
                continue
            first, last = chunk[0], chunk[-1]
            request = spec.range_request_for(first, last, self.fetcher.request_time(last))
            fetch = _answer(lambda: self._fetch(spec, request), spec, first)
            for day in chunk:
                answers[day] = fetch if isinstance(fetch, ArchivedFetch) else type(fetch)(
                    spec.source, spec.dataset, day, f"range request {first} … {last}: {fetch.reason}"
                )
        return answers

    def fetch_request(self, spec: DatasetSpec, request: FetchRequest) -> ArchivedFetch:
        """Every page of one request (a poll's, say), each archived as it arrives; FetchError once archived when a
        page is not data."""
        return self._fetch(spec, request)

    def _fetch(self, spec: DatasetSpec, request: FetchRequest) -> ArchivedFetch:
        """Every page of one request, each archived as it arrives."""
        day = request.day
        pages: list[ArchivedBody] = []
        stem: str | None = None
        # A paged dataset's fetch counts only once its listing is written (even with one page): a walk killed
        # after page 1 must not read as a single-page answer.
        paged = spec.next_page is not None
        for page in range(1, spec.max_pages + 1):
            fetched = self.fetcher.fetch(request)
            archived = self.archive.write(fetched, page, stem, paged)  # archived before any check: nothing is lost
            stem = stem or archived.path.name.split(".")[0]
            pages.append(archived)
            # The body is in memory: check it and find the next page from it, without reading the archive back.
            try:
                _raise_unless_data(spec, day, archived, fetched.body)
            except FetchError:
                if page == 1:  # the whole answer is this error page: a complete (failed) fetch, read as such
                    self.archive.seal(pages, paged)
                raise  # after page 1, a walk stopped by an error page stays cut short (never read)
            following = spec.next_page(request, fetched.body) if spec.next_page else None
            if following is not None and request.last_day is not None:
                # A range's days would then be spread over pages that each hold only some of them.
                raise FetchError(spec.source, spec.dataset, day, f"the answer needs more than one page: lower "
                                 f"max_range_days ({spec.max_range_days}) (page 1 archived at {archived.path})")
            if following is None:
                self.archive.seal(pages, paged)
                return ArchivedFetch(stem, tuple(pages))
            request = following
        raise FetchError(spec.source, spec.dataset, day, f"still paging after {spec.max_pages} pages; stopped")


class ReplayBodySource:
    """Replay mode: nothing is fetched; the newest complete archived fetch of each (source, dataset, day)."""

    def __init__(self, archive: LandingArchive):
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch | PolledDay:
        if getattr(spec, "poll", None) is not None:
            return PollReader(self.archive, spec).day(day)
        newest = self.archive.newest_fetch(spec.source, spec.dataset, day)
        if newest is None:
            where = self.archive.partition_dir(spec.source, spec.dataset, day)
            raise MissingArchiveError(spec.source, spec.dataset, day, f"replay found no archived body in {where}"
                                      f"{_cut_short_note(self.archive, spec, day)}")
        for page in newest.pages:
            _raise_unless_data(spec, day, page)
        return newest

    def obtain_window(self, spec: DatasetSpec, days: list[dt.date]
                      ) -> dict[dt.date, ArchivedFetch | PolledDay | PipelineDataError]:
        if getattr(spec, "poll", None) is not None:
            return read_polled_window(self.archive, spec, days)
        return _each_day(self.obtain, spec, days)


def _archived_snapshot(archive: LandingArchive, spec: DatasetSpec, day: dt.date) -> ArchivedFetch:
    """A now-only source asked for a past day: only what was archived back then can answer."""
    newest = archive.newest_fetch(spec.source, spec.dataset, day)
    if newest is None:
        raise FetchError(
            spec.source, spec.dataset, day,
            f"{spec.name} serves only the present ({spec.history or 'no history'}); "
            f"no archived snapshot for {day.isoformat()}{_cut_short_note(archive, spec, day)}",
        )
    for page in newest.pages:
        _raise_unless_data(spec, day, page)
    return newest


def _cut_short_note(archive: LandingArchive, spec: DatasetSpec, day: dt.date) -> str:
    """Why fetches that are archived do not answer: each was cut short (pages without their listing)."""
    cut = archive.cut_short(spec.source, spec.dataset, day)
    if not cut:
        return ""
    return (f"; {len(cut)} fetch(es) archived but cut short before their last page, never read: "
            f"{', '.join(str(path) for path in cut[-3:])}")


def _raise_unless_data(spec: DatasetSpec, day: dt.date, archived: ArchivedBody, body: bytes | None = None) -> None:
    """Stop before parsing when the body is not data: an error status, a body too large to be one day's, or a 200
    carrying an error (exchange envelope, HTML page, broken JSON)."""
    status = archived.status
    if status == 451:
        host = urlsplit(archived.meta["url"]).hostname or "?"
        raise FetchError(
            spec.source, spec.dataset, day,
            f"HTTP 451 from {host}: region blocked; {region_block_advice(host, spec.source)} "
            f"(body archived at {archived.path})",
        )
    if status != 200:
        raise FetchError(spec.source, spec.dataset, day, f"HTTP {status} (body archived at {archived.path})")
    size = int(archived.meta["size_bytes"])  # the sidecar's: the body is not even decompressed
    if size > MAX_BODY_BYTES:
        raise FetchError(
            spec.source, spec.dataset, day,
            f"body of {size:,} bytes is over the {MAX_BODY_BYTES:,}-byte limit: not parsed (body archived at "
            f"{archived.path})",
        )
    problem = envelope_error(spec.source, archived.read_body() if body is None else body)
    if problem:
        raise FetchError(spec.source, spec.dataset, day, f"{problem} (body archived at {archived.path})")
