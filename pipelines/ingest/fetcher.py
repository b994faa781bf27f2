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
class FetchRequest:
    """One GET request for one (source, dataset, partition day)."""

    source: str
    dataset: str
    day: dt.date
    url: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedBody:
    """What came back: status, the exact body bytes, and when (UTC, timezone-aware)."""

    request: FetchRequest
    status: int
    body: bytes
    fetched_at: dt.datetime


class Fetcher(Protocol):
    def fetch(self, request: FetchRequest) -> FetchedBody: ...
