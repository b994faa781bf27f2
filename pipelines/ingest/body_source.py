"""Where an extract gets the archived body of a (dataset, day): fetch-and-archive, or replay."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from pipelines.ingest.archive import ArchivedBody, LandingArchive
from pipelines.ingest.envelopes import envelope_error
from pipelines.ingest.errors import FetchError, MissingArchiveError
from pipelines.ingest.fetcher import Fetcher
from pipelines.sources.spec import DatasetSpec


class BodySource(Protocol):
    archive: LandingArchive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedBody: ...


class FetchingBodySource:
    """Demo and live modes: fetch, archive whatever came back, then hand over the archived entry."""

    def __init__(self, fetcher: Fetcher, archive: LandingArchive):
        self.fetcher = fetcher
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedBody:
        fetched = self.fetcher.fetch(spec.build_request(day))
        archived = self.archive.write(fetched)  # archived before any check: nothing fetched is lost
        if fetched.status != 200:
            raise FetchError(
                spec.source, spec.dataset, day, f"HTTP {fetched.status} (body archived at {archived.path})"
            )
        _raise_on_envelope_error(spec, day, archived)
        return archived


class ReplayBodySource:
    """Replay mode: nothing is fetched; the newest archived body of each (source, dataset, day) is used."""

    def __init__(self, archive: LandingArchive):
        self.archive = archive

    def obtain(self, spec: DatasetSpec, day: dt.date) -> ArchivedBody:
        newest = self.archive.newest(spec.source, spec.dataset, day)
        if newest is None:
            where = self.archive.partition_dir(spec.source, spec.dataset, day)
            raise MissingArchiveError(spec.source, spec.dataset, day, f"replay found no archived body in {where}")
        if newest.status != 200:
            raise FetchError(
                spec.source, spec.dataset, day, f"newest archived body is HTTP {newest.status}: {newest.path}"
            )
        _raise_on_envelope_error(spec, day, newest)
        return newest


def _raise_on_envelope_error(spec: DatasetSpec, day: dt.date, archived: ArchivedBody) -> None:
    """An HTTP 200 can still carry an error (exchange envelope, HTML page, broken JSON): stop before parsing."""
    problem = envelope_error(spec.source, archived.read_body())
    if problem:
        raise FetchError(spec.source, spec.dataset, day, f"{problem} (body archived at {archived.path})")
