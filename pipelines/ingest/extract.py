"""One extract, one day: obtain the archived body, parse it, replace the raw partition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ingest.body_source import BodySource
from pipelines.ingest.errors import ParseError
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
    fetch = body_source.obtain(spec, day)
    tables = [spec.parse(page.read_body(), day, fetch.fetched_at) for page in fetch.pages]
    rows = stitch_pages(spec, day, tables)
    landing_file = fetch.first.path.relative_to(tree_dir).as_posix()
    count = replace_partition(conn, spec, day, rows, landing_file, loaded_at)
    return DayLoad(day=day, rows=count, landing_file=landing_file, sha256=fetch.first.meta["sha256"])


def stitch_pages(spec: DatasetSpec, day: dt.date, tables: list[pa.Table]) -> pa.Table:
    """Rows of every page as one table: a row repeated on two pages (overlapping windows) is kept once;
    two different rows under one key are a conflict, refused."""
    if len(tables) == 1:
        return tables[0]
    by_key: dict[tuple, dict] = {}
    for row in pa.concat_tables(tables).to_pylist():
        key = tuple(row[k] for k in spec.key_columns)
        seen = by_key.setdefault(key, row)
        if seen != row:
            raise ParseError(spec.source, spec.dataset, day, f"pages disagree on key {key}: {seen} vs {row}")
    return pa.Table.from_pylist(list(by_key.values()), schema=spec.raw_schema)


def days_in_window(start: dt.date, end_exclusive: dt.date) -> list[dt.date]:
    """The days of a half-open window [start, end)."""
    return [start + dt.timedelta(days=i) for i in range((end_exclusive - start).days)]
