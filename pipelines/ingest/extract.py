"""One extract, one day: obtain the archived body, parse it, replace the raw partition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.ingest.body_source import BodySource
from pipelines.ingest.raw_loader import replace_partition
from pipelines.sources.spec import DatasetSpec


@dataclass(frozen=True)
class DayLoad:
    day: dt.date
    rows: int
    landing_file: str  # relative to the mode's tree, e.g. landing/binance/spot_klines_1d/date=…/….json.gz
    sha256: str


def extract_day(
    spec: DatasetSpec,
    day: dt.date,
    body_source: BodySource,
    conn: duckdb.DuckDBPyConnection,
    tree_dir: Path,
    loaded_at: dt.datetime,
) -> DayLoad:
    archived = body_source.obtain(spec, day)
    rows = spec.parse(archived.read_body(), day, archived.fetched_at)
    landing_file = archived.path.relative_to(tree_dir).as_posix()
    count = replace_partition(conn, spec, day, rows, landing_file, loaded_at)
    return DayLoad(day=day, rows=count, landing_file=landing_file, sha256=archived.meta["sha256"])


def days_in_window(start: dt.date, end_exclusive: dt.date) -> list[dt.date]:
    """The days of a half-open window [start, end)."""
    return [start + dt.timedelta(days=i) for i in range((end_exclusive - start).days)]
