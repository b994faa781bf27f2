"""Dagster resources, built from the one Settings object when definitions are loaded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import BodySource, FetchingBodySource, ReplayBodySource
from pipelines.settings import Settings, SourceMode


class WarehouseResource(dg.ConfigurableResource):
    """The mode's tree: its DuckDB file, landing archive and the source that fills it."""

    source_mode: str = SourceMode.DEMO.value
    warehouse_dir: str = "warehouse"
    start_date: str = "2020-01-01"
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    reject_threshold: float = 0.02

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            source_mode=settings.source_mode.value,
            warehouse_dir=str(settings.warehouse_dir),
            start_date=settings.start_date.isoformat(),
            duckdb_memory_limit=settings.duckdb_memory_limit,
            duckdb_threads=settings.duckdb_threads,
            reject_threshold=settings.reject_threshold,
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            source_mode=SourceMode(self.source_mode),
            warehouse_dir=Path(self.warehouse_dir),
            start_date=dt.date.fromisoformat(self.start_date),
            duckdb_memory_limit=self.duckdb_memory_limit,
            duckdb_threads=self.duckdb_threads,
            reject_threshold=self.reject_threshold,
        )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection: DuckDB allows one writer process, and dbt runs in another."""
        settings = self.settings
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(settings.duckdb_path), read_only=read_only, config=settings.duckdb_config())
        try:
            yield conn
        finally:
            conn.close()

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

    return FetchingBodySource(LiveFetcher(), archive)
