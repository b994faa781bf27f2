"""What the pipeline knows about one dataset: how to ask for a day, and how to read the answer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest, PollWindow

# Names end up in filesystem paths and SQL identifiers: keep them to a safe alphabet.
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

PARTITION_COLUMN = "partition_date"


def validate_name(kind: str, name: str) -> str:
    if not _SAFE_NAME.fullmatch(name) or "__" in name:
        raise ValueError(f"invalid {kind} name {name!r}: use lowercase letters, digits and single underscores")
    return name


@dataclass(frozen=True)
class PollSpec:
    """How to archive a source whose history rolls off (or is capped) faster than the nightly run comes back.

    A poll asks what the source serves at a moment, newest first (`build_request(window)`; the dataset's
    `next_page` walks it back until `window.since` is passed or the feed runs out), every page archived
    write-once under `poll=<UTC date>` (pipelines.polling runs them; pipelines.ingest.polls reads them back).

    `retention`: how far back the source serves; a poll never asks further. `row_cap`: the most rows it serves
    at once, whatever the window (None: no cap); a poll that runs out at the cap may have lost older rows and
    is flagged (`served_keys` counts its rows). `overlap`: each poll reaches this far behind the previous one (rows seen twice are de-duplicated
    by key), so an order published late or a clock a little off loses nothing.
    """

    build_request: Callable[[PollWindow], FetchRequest]
    # Every row ONE page serves, whatever its day, as (event time in ms, *key): how far back a poll reached and
    # how many distinct rows it got (pages repeat their boundary ms). Raises ParseError on a body that is not data.
    served_keys: Callable[[bytes], list[tuple]]
    retention: dt.timedelta
    row_cap: int | None = None
    overlap: dt.timedelta = dt.timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.retention <= dt.timedelta(0) or not dt.timedelta(0) <= self.overlap < self.retention:
            raise ValueError("a poll needs a positive retention and an overlap in [0, retention)")
        if self.row_cap is not None and self.row_cap < 1:
            raise ValueError("a poll's row cap must be positive")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of a source.

    `parse(body, day, fetched_at)` returns the rows of partition `day` found in ONE response body as a
    pyarrow Table whose schema is exactly `raw_schema` (first column `partition_date` DATE), or raises
    ParseError naming source, dataset, day and reason. It is pure: bytes in, table out.

    Paged datasets set `next_page(request, body)`: the request for the page after `body`, or None when the
    day is covered. The rows of all pages are stitched by key (overlaps dropped, conflicts refused).

    Range-capable datasets set `build_range_request(first, last, send_time)`: ONE request for the consecutive days
    first … last (at most `max_range_days`), whose body `parse` reads once per day. A backfill then asks for
    its window in a few requests instead of one per day; a range request is single-page by construction
    (`max_range_days` stays within the API's row limit).

    `backfillable=False` marks a source that serves only the present (a Deribit chain, OKX's last ~24 h
    of liquidations): a past day comes from the landing archive or fails with a message saying so.

    `poll` marks a source whose history rolls off within a day or is capped (OKX liquidations): it is polled on
    a schedule, and a day is read from every archived poll reaching into it (PollSpec). A polled dataset must be
    paged (`next_page`), since a poll walks back from the newest row.
    """

    source: str
    dataset: str
    description: str
    raw_schema: pa.Schema
    key_columns: tuple[str, ...]
    build_request: Callable[[dt.date], FetchRequest]
    parse: Callable[[bytes, dt.date, dt.datetime], pa.Table]
    # A TIMESTAMP column that must fall inside the partition's UTC day; None for snapshots of "now".
    event_time_column: str | None = None
    backfillable: bool = True
    # How far back the source serves history, for the README and for clear errors (None: since launch).
    history: str = ""
    # The first day the source has data for (a listing, a launch); earlier days are skipped, not failed.
    available_from: dt.date | None = None
    # A now-only dataset added to the project later than the others: the first day it is archived. In live and
    # replay mode a warehouse holds no snapshot of an earlier day (unless its archive was built elsewhere), so
    # those days are skipped (nothing to ask), not failed: a backfill of older history still builds everything
    # else. The demo simulates every day.
    archived_since: dt.date | None = None
    next_page: Callable[[FetchRequest, bytes], FetchRequest | None] | None = None
    # For a request that depends on when it is sent (mempool's hash-rate period): (day, send time) → request.
    build_request_at: Callable[[dt.date, dt.datetime], FetchRequest] | None = None
    max_pages: int = 500
    build_range_request: Callable[[dt.date, dt.date, dt.datetime], FetchRequest] | None = None
    max_range_days: int = 1
    poll: PollSpec | None = None
    # `parse(body, day, fetched_at, params)`: the page's request params are passed too, for an API whose body does
    # not name what was asked (the CLOB's prices-history body has no token id).
    parse_takes_params: bool = False
    # A day whose pages all parse to no rows is a day without data (no market listed yet), loaded as such — the
    # raw partition is emptied only if it held nothing; otherwise an empty answer keeps the partition's rows.
    empty_day_ok: bool = False
    # Whether the source is asked anything on a day (beyond available_from): the configured markets, say.
    asks_on: Callable[[dt.date], bool] | None = None
    # Requests that depend on what the warehouse already holds (the CLOB tokens Gamma listed): `bind(conn, days)`,
    # called by the extract with a read-only connection (None before the warehouse exists), returns the spec for
    # this run. `upstream` names the datasets (source/dataset) whose raw tables it reads: they run first.
    bind: Callable[[Any, list[dt.date]], DatasetSpec] | None = None
    upstream: tuple[str, ...] = ()
    # The endpoint the README's catalogue names for a dataset whose requests exist only once bound.
    endpoint_url: str = ""

    def __post_init__(self) -> None:
        validate_name("source", self.source)
        validate_name("dataset", self.dataset)
        if self.raw_schema.names[0] != PARTITION_COLUMN:
            raise ValueError(f"{self.name}: first raw column must be {PARTITION_COLUMN}")
        if any(n.startswith("_") for n in self.raw_schema.names):
            raise ValueError(f"{self.name}: columns starting with '_' are reserved for lineage")
        if self.max_range_days < 1 or (self.max_range_days > 1) != (self.build_range_request is not None):
            raise ValueError(f"{self.name}: a range request builder goes with max_range_days > 1, and only with it")
        if self.build_range_request is not None and not self.backfillable:
            raise ValueError(f"{self.name}: a source serving only the present has no ranges to ask for")
        if self.poll is not None and (self.next_page is None or self.event_time_column is None):
            raise ValueError(f"{self.name}: a polled dataset walks pages back in time (next_page, event_time_column)")
        missing = set(self.key_columns) - set(self.raw_schema.names)
        if missing:
            raise ValueError(f"{self.name}: key columns {sorted(missing)} not in raw schema")

    def request_for(self, day: dt.date, at: dt.datetime) -> FetchRequest:
        """The first request for `day` when sent at `at` (the demo's simulated time, or now when live)."""
        return self.build_request_at(day, at) if self.build_request_at else self.build_request(day)

    def range_request_for(self, first: dt.date, last: dt.date, at: dt.datetime) -> FetchRequest:
        """The request for the days first … last (one request), sent at `at`."""
        if self.build_range_request is None or (last - first).days + 1 > self.max_range_days:
            raise ValueError(f"{self.name}: no single request covers {first} … {last}")
        return self.build_range_request(first, last, at)

    def covers(self, day: dt.date, simulated: bool = False) -> bool:
        """Whether `day` is asked of the source (`simulated`: by the demo, which serves every day's present)."""
        if self.available_from is not None and day < self.available_from:
            return False
        if not simulated and self.archived_since is not None and day < self.archived_since:
            return False
        return self.asks_on is None or self.asks_on(day)

    @property
    def asks_ranges(self) -> bool:
        return self.max_range_days > 1

    @property
    def name(self) -> str:
        return f"{self.source}/{self.dataset}"

    @property
    def raw_table(self) -> str:
        """Table name in schema `raw` (and dbt source name)."""
        return f"{self.source}__{self.dataset}"


def ignoring_send_time(
    build_range: Callable[[dt.date, dt.date], FetchRequest],
) -> Callable[[dt.date, dt.date, dt.datetime], FetchRequest]:
    """A range builder for an API whose windows are absolute (most of them): the send time does not matter."""
    return lambda first, last, _at: build_range(first, last)
