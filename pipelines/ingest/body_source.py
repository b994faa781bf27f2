"""Where an extract gets the archived bodies of a (dataset, day): fetch-and-archive, or replay."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from urllib.parse import urlsplit

from pipelines.ingest.archive import ArchivedBody, ArchivedFetch, LandingArchive
from pipelines.ingest.envelopes import envelope_error
from pipelines.ingest.errors import FetchError, MissingArchiveError
from pipelines.ingest.fetcher import Fetcher
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

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch: ...


class FetchingBodySource:
    """Demo and live modes: fetch (every page), archive whatever came back, then hand over the archived fetch."""

    def __init__(self, fetcher: Fetcher, archive: LandingArchive):
        self.fetcher = fetcher
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch:
        if not spec.backfillable and not self.fetcher.serves_present_of(day):
            return _archived_snapshot(self.archive, spec, day)
        request = spec.request_for(day, self.fetcher.request_time(day))
        pages: list[ArchivedBody] = []
        stem: str | None = None
        for page in range(1, spec.max_pages + 1):
            fetched = self.fetcher.fetch(request)
            archived = self.archive.write(fetched, page, stem)  # archived before any check: nothing is lost
            stem = stem or archived.path.name.split(".")[0]
            pages.append(archived)
            # The body is in memory: check it and find the next page from it, without reading the archive back.
            _raise_unless_data(spec, day, archived, fetched.body)
            following = spec.next_page(request, fetched.body) if spec.next_page else None
            if following is None:
                self.archive.seal(pages)
                return ArchivedFetch(stem, tuple(pages))
            request = following
        raise FetchError(spec.source, spec.dataset, day, f"still paging after {spec.max_pages} pages; stopped")


class ReplayBodySource:
    """Replay mode: nothing is fetched; the newest complete archived fetch of each (source, dataset, day)."""

    def __init__(self, archive: LandingArchive):
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedFetch:
        newest = self.archive.newest_fetch(spec.source, spec.dataset, day)
        if newest is None:
            where = self.archive.partition_dir(spec.source, spec.dataset, day)
            raise MissingArchiveError(spec.source, spec.dataset, day, f"replay found no archived body in {where}")
        for page in newest.pages:
            _raise_unless_data(spec, day, page)
        return newest


def _archived_snapshot(archive: LandingArchive, spec: DatasetSpec, day: dt.date) -> ArchivedFetch:
    """A now-only source asked for a past day: only what was archived back then can answer."""
    newest = archive.newest_fetch(spec.source, spec.dataset, day)
    if newest is None:
        raise FetchError(
            spec.source, spec.dataset, day,
            f"{spec.name} serves only the present ({spec.history or 'no history'}); "
            f"no archived snapshot for {day.isoformat()}",
        )
    for page in newest.pages:
        _raise_unless_data(spec, day, page)
    return newest


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
