"""Dagster resources, built from the one Settings object when definitions are loaded."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import duckdb

from pipelines import engine
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import BodySource, FetchingBodySource, ReplayBodySource
from pipelines.ingest.errors import FetchError
from pipelines.ingest.fetcher import FetchedBody, Fetcher, FetchRequest
from pipelines.settings import LOOPBACK_HOSTS, Settings, SourceMode, WarehouseKind, parse_simulated_now
from pipelines.sources.registry import DATASETS


class WarehouseResource(dg.ConfigurableResource):
    """The mode's tree: its DuckDB file, landing archive and the source that fills it."""

    source_mode: str = SourceMode.DEMO.value
    warehouse: str = WarehouseKind.DUCKDB.value  # duckdb (one file) or lake (pipelines/engine)
    warehouse_dir: str = "warehouse"
    start_date: str = ""  # "" = the mode's first partition (pipelines/settings.py default_start_date)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    reject_threshold: float = 0.02
    poll_cron: str = "5 * * * *"
    # "" = unset (Dagster config has no None for a plain str field that the UI edits).
    live_base_url: str = ""
    simulated_now: str = ""  # ISO-8601 with its offset

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            source_mode=settings.source_mode.value,
            warehouse=settings.warehouse.value,
            warehouse_dir=str(settings.warehouse_dir),
            start_date=settings.start_date.isoformat(),
            duckdb_memory_limit=settings.duckdb_memory_limit,
            duckdb_threads=settings.duckdb_threads,
            reject_threshold=settings.reject_threshold,
            poll_cron=settings.poll_cron,
            live_base_url=settings.live_base_url or "",
            simulated_now=settings.simulated_now.isoformat() if settings.simulated_now else "",
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            source_mode=SourceMode(self.source_mode),
            warehouse=WarehouseKind(self.warehouse),
            warehouse_dir=Path(self.warehouse_dir),
            start_date=dt.date.fromisoformat(self.start_date) if self.start_date else None,
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_threads=self.duckdb_threads,
            reject_threshold=self.reject_threshold,
            poll_cron=self.poll_cron,
            live_base_url=self.live_base_url or None,
            simulated_now=parse_simulated_now(self.simulated_now, "simulated_now") if self.simulated_now else None,
        )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection (pipelines/engine): a DuckDB file allows one writer process, and dbt runs in
        another."""
        with engine.connect(self.settings, read_only=read_only) as conn:
            yield conn

    @contextmanager
    def writing(self, what: str, holder: str) -> Iterator[None]:
        """Held while a step replaces rows of `what` (engine.RAW_WRITES, DBT_WRITES or GAMMA_WRITES): one writer at
        a time per lock, on a lake across processes and machines too (engine.write_lock)."""
        with engine.write_lock(self.settings, [what], holder):
            yield

    def body_source(self) -> BodySource:
        return body_source_for(self.settings)


def body_source_for(settings: Settings) -> BodySource:
    archive = LandingArchive(settings.landing_dir)
    if settings.source_mode is SourceMode.REPLAY:
        return ReplayBodySource(archive)
    if settings.source_mode is SourceMode.DEMO:
        from pipelines.demo.fetcher import DemoFetcher

        return FetchingBodySource(DemoFetcher(), archive)
    from pipelines.live.fetcher import LiveFetcher
    from pipelines.live.http_client import DEFAULT_HOST_RATES, HttpPolicy

    if settings.live_base_url is None:
        return FetchingBodySource(LiveFetcher(now=settings.now), archive)
    redirects = {origin: settings.live_base_url for origin in live_origins(settings.now())}
    # The client paces requests by the host it connects to: redirected, every source shares the loopback host, whose
    # default pace (1 request/s for an unknown host) would stretch a night's ~100 requests into minutes of sleep.
    # A local server needs no pacing; the real hosts' rates stay as they are for a remote redirect.
    policy = HttpPolicy(host_rates={**DEFAULT_HOST_RATES, **{host: math.inf for host in LOOPBACK_HOSTS}})
    fetcher = LiveFetcher(policy, now=settings.now, base_urls=redirects)
    return FetchingBodySource(RedirectedOnly(fetcher, redirects), archive)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def live_origins(at: dt.datetime) -> set[str]:
    """Every origin the registry's datasets ask (first request of yesterday's partition, and a range when the
    dataset asks ranges), as seen at `at`: the hosts a redirected live run must send to the local server."""
    day = at.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    found: set[str] = set()
    for spec in DATASETS:
        if spec.endpoint_url:  # a dataset whose requests exist only once bound to the warehouse (CLOB tokens)
            found.add(origin_of(spec.endpoint_url))
            continue
        found.add(origin_of(spec.request_for(day, at).url))
        if spec.asks_ranges:
            found.add(origin_of(spec.range_request_for(day - dt.timedelta(days=1), day, at).url))
    return found


class RedirectedOnly:
    """A live fetcher whose every request must go to a redirected origin: a request for a host outside the map
    (a new dataset's, a next page on another host) fails by name instead of reaching the real internet."""

    def __init__(self, fetcher: Fetcher, redirects: Mapping[str, str]):
        self._fetcher = fetcher
        self._redirects = dict(redirects)

    def fetch(self, request: FetchRequest) -> FetchedBody:
        origin = origin_of(request.url)
        if origin not in self._redirects:
            raise FetchError(request.source, request.dataset, request.day,
                             f"{origin} is not redirected to BTCW_LIVE_BASE_URL (known origins: "
                             f"{', '.join(sorted(self._redirects))}); refused rather than sent to the real host")
        return self._fetcher.fetch(request)

    def request_time(self, day: dt.date) -> dt.datetime:
        return self._fetcher.request_time(day)

    def serves_present_of(self, day: dt.date) -> bool:
        return self._fetcher.serves_present_of(day)

    def close(self) -> None:
        close = getattr(self._fetcher, "close", None)
        if close is not None:
            close()
