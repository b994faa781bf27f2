"""One extract, one window: land each day's body, parse it, split the rows into loaded and quarantined, and
replace the loaded days' raw partitions — all writes in one transaction, after every day has been read."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.duckdb_tables import transaction
from pipelines.ingest.archive import ArchivedBody, ArchivedFetch, ArchiveError
from pipelines.ingest.body_source import BodySource
from pipelines.ingest.errors import ParseError, PipelineDataError
from pipelines.ingest.load_log import FAILED, LOAD_LOG_SCHEMA, LOADED, REJECTED, ensure_load_log, record_loads
from pipelines.ingest.polls import DayCoverage, PolledDay
from pipelines.ingest.raw_loader import RAW_SCHEMA, ensure_raw_table, validate_rows
from pipelines.quality.derived import with_derived_columns
from pipelines.quality.quarantine import (
    EXACT_DUPLICATE,
    QUARANTINE_SCHEMA,
    ensure_quarantine_table,
    exact_duplicate_positions,
    replace_quarantine,
    split_day,
)
from pipelines.quality.suites import row_expectations
from pipelines.quality.validation import SuiteVerdict, validate_rows as validate_with_suite
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec


@dataclass(frozen=True)
class DayLoad:
    day: dt.date
    status: str  # load_log.LOADED | REJECTED | FAILED
    rows_landed: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    landing_file: str | None = None  # relative to the mode's tree, e.g. landing/binance/spot_klines_1d/date=…/….json.gz
    sha256: str | None = None
    reason: str = ""
    coverage: DayCoverage | None = None  # a polled dataset's day: how its polls covered it
    first_event_at: dt.datetime | None = None  # naive UTC, from the event-time column of the landed rows
    last_event_at: dt.datetime | None = None


@dataclass(frozen=True)
class WindowLoad:
    days: tuple[DayLoad, ...]
    quarantined: pa.Table  # QUARANTINE_SCHEMA rows written for the window's days
    verdict: SuiteVerdict  # the row suite's verdict on every landed row of the window

    @property
    def rows_loaded(self) -> int:
        return sum(d.rows_loaded for d in self.days)


@dataclass(frozen=True)
class _Landed:
    day: dt.date
    rows: pa.Table
    landing_file: str
    sha256: str
    coverage: DayCoverage | None = None


def load_window(
    spec: DatasetSpec,
    days: list[dt.date],
    body_source: BodySource,
    conn: duckdb.DuckDBPyConnection,
    tree_dir: Path,
    loaded_at: dt.datetime,
    reject_threshold: float,
    writing: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> WindowLoad:
    """A day whose body cannot be used is FAILED and a day with more than `reject_threshold` of its rows refused
    is REJECTED: neither touches its raw partition, and the other days still load (a year's backfill is not
    lost to one bad day). The caller fails the run's checks for them. Fetching, landing and parsing run as they
    come; the write runs inside `writing()` (the raw tables' lock on a lake, pipelines/engine)."""
    landed: list[_Landed] = []
    failed: list[DayLoad] = []
    bodies = _BodyReader()
    for day, fetch in body_source.obtain_window(spec, days).items():
        try:
            if isinstance(fetch, PipelineDataError):
                raise fetch
            landed.append(_parse_day(spec, day, fetch, bodies, tree_dir))
        except PipelineDataError as error:
            failed.append(DayLoad(day, FAILED, reason=str(error), landing_file=_newest_file(body_source, spec, day,
                                                                                           tree_dir),
                                  coverage=fetch.coverage if isinstance(fetch, PolledDay) else None))
    verdict, reasons = _row_reasons(spec, landed)
    loads, accepted, rejected = [], [], []
    for item in landed:
        split = split_day(item.rows, reasons.get(item.day, {}), spec.raw_table, item.day, item.landing_file, loaded_at)
        rejected.append(split.rejected)
        share = split.rejected.num_rows / max(item.rows.num_rows, 1)
        too_many = split.rejected.num_rows and share > reject_threshold
        if not too_many:
            accepted.append(validate_rows(spec, item.day, split.accepted))
        first_event, last_event = _event_span(spec, item.rows)
        loads.append(DayLoad(
            item.day, REJECTED if too_many else LOADED, item.rows.num_rows,
            0 if too_many else split.accepted.num_rows, split.rejected.num_rows, item.landing_file, item.sha256,
            f"{split.rejected.num_rows} of {item.rows.num_rows} rows quarantined ({share:.1%}), above the "
            f"{reject_threshold:.1%} threshold: raw partition left as it was; {_top_reasons(split.rejected)}"
            if too_many else "",
            item.coverage, first_event, last_event,
        ))
    quarantined = pa.concat_tables(rejected) if rejected else QUARANTINE_SCHEMA.empty_table()
    all_loads = tuple(sorted([*loads, *failed], key=lambda d: d.day))
    with writing():
        _write(conn, spec, [i.day for i in landed], accepted, quarantined, all_loads, loaded_at)
    return WindowLoad(all_loads, quarantined, verdict)


def _event_span(spec: DatasetSpec, rows: pa.Table) -> tuple[dt.datetime | None, dt.datetime | None]:
    """First and last event time of a polled day's landed rows (the coverage columns; None for other datasets)."""
    if getattr(spec, "poll", None) is None or spec.event_time_column is None or rows.num_rows == 0:
        return None, None
    import pyarrow.compute as pc

    span = pc.min_max(rows.column(spec.event_time_column))
    return span["min"].as_py(), span["max"].as_py()


def _top_reasons(rejected: pa.Table, top: int = 3) -> str:
    reasons = list(dict.fromkeys(rejected.column("reason").to_pylist()))
    return "; ".join(reasons[:top]) + (f" (+{len(reasons) - top} more)" if len(reasons) > top else "")


class _BodyReader:
    """Reads each archived body once per window: a range body answers for up to hundreds of days."""

    def __init__(self) -> None:
        self._read: dict[Path, bytes | ArchiveError] = {}

    def read(self, page: ArchivedBody) -> bytes:
        if page.path not in self._read:
            try:
                self._read[page.path] = page.read_body()
            except ArchiveError as error:
                self._read[page.path] = error
        body = self._read[page.path]
        if isinstance(body, ArchiveError):
            raise body
        return body


def _parse_day(spec: DatasetSpec, day: dt.date, fetch: ArchivedFetch | PolledDay, bodies: _BodyReader,
               tree_dir: Path) -> _Landed:
    # A polled day is read from every poll reaching into it; each page is parsed as of its own poll's time, and
    # a row seen by several polls (their windows overlap) is kept once, by key.
    fetches = fetch.fetches if isinstance(fetch, PolledDay) else (fetch,)
    try:
        pages = [(bodies.read(page), one.fetched_at) for one in fetches for page in one.pages]
    except ArchiveError as error:  # the archived file no longer matches its sha256: never parse it
        raise ParseError(spec.source, spec.dataset, day, str(error)) from None
    if spec.parse_takes_params:  # the body alone does not say what was asked: the page's sidecar does
        params = [page.meta.get("params", {}) for one in fetches for page in one.pages]
        tables = [spec.parse(body, day, fetched_at, p) for (body, fetched_at), p in zip(pages, params)]
    else:
        tables = [spec.parse(body, day, fetched_at) for body, fetched_at in pages]
    rows = stitch_pages(spec, day, tables)
    if rows.num_rows == 0 and not spec.empty_day_ok:
        # An empty answer is not an empty day: replacing the partition with nothing would erase what it held.
        raise ParseError(spec.source, spec.dataset, day, "body parsed but held no rows: nothing loaded, the raw "
                                                         "partition keeps its rows")
    if not rows.schema.equals(spec.raw_schema, check_metadata=False):
        raise ParseError(spec.source, spec.dataset, day, f"parsed schema {rows.schema} != declared {spec.raw_schema}")
    return _Landed(day, rows, fetch.first.path.relative_to(tree_dir).as_posix(), fetch.first.meta["sha256"],
                   fetch.coverage if isinstance(fetch, PolledDay) else None)


def _newest_file(body_source: BodySource, spec: DatasetSpec, day: dt.date, tree_dir: Path) -> str | None:
    """Where the failed day's body lies, for the log: the engineer opens it next."""
    if getattr(spec, "poll", None) is not None:  # the last poll sent that day or the next, failed or not
        archive = body_source.archive
        sent = [f.first for d in (day + dt.timedelta(days=1), day) for f in archive.polls(spec.source, spec.dataset,
                                                                                             d)[0]]
        day_fetch = body_source.archive.newest(spec.source, spec.dataset, day)
        newest = max([*sent, *([day_fetch] if day_fetch else [])], key=lambda page: page.fetched_at, default=None)
        return newest.path.relative_to(tree_dir).as_posix() if newest else None
    newest = body_source.archive.newest(spec.source, spec.dataset, day)
    return newest.path.relative_to(tree_dir).as_posix() if newest else None


def _row_reasons(spec: DatasetSpec, landed: list[_Landed]) -> tuple[SuiteVerdict, dict[dt.date, dict[int, list[str]]]]:
    """Validate every landed row of the window in ONE suite run (a run costs ~0.1 s: once per day would
    dominate a year's backfill); map the failing rows back to (day, position within the day)."""
    if not landed:
        return SuiteVerdict(f"{spec.raw_table}.rows", 0, ()), {}
    origin: list[tuple[dt.date, int]] = []
    kept: list[pa.Table] = []
    reasons: dict[dt.date, dict[int, list[str]]] = {}
    for item in landed:
        repeats = set(exact_duplicate_positions(item.rows))
        for position in repeats:
            reasons.setdefault(item.day, {})[position] = [EXACT_DUPLICATE]
        others = [i for i in range(item.rows.num_rows) if i not in repeats]
        kept.append(item.rows.take(pa.array(others, pa.int64())))
        origin.extend((item.day, i) for i in others)
    combined = pa.concat_tables(kept)
    verdict = validate_with_suite(f"{spec.raw_table}.rows", row_expectations(spec),
                                  with_derived_columns(spec, combined))
    for position, why in verdict.row_reasons.items():
        day, within_day = origin[position]
        reasons.setdefault(day, {})[within_day] = why
    return verdict, reasons


def _write(
    conn: duckdb.DuckDBPyConnection,
    spec: DatasetSpec,
    landed_days: list[dt.date],
    accepted: list[pa.Table],
    quarantined: pa.Table,
    loads: tuple[DayLoad, ...],
    loaded_at: dt.datetime,
) -> None:
    """Raw partitions of the loaded days, the quarantine of the landed days and the log: one transaction."""
    ensure_raw_table(conn, spec)
    ensure_quarantine_table(conn)
    ensure_load_log(conn)
    at = loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    # A day that landed no rows (a dataset whose days may be empty) replaces nothing: an empty answer never empties
    # a partition that held rows.
    loaded_days = [d.day for d in loads if d.status == LOADED and d.rows_landed > 0]
    table = f'{RAW_SCHEMA}."{spec.raw_table}"'
    with transaction(conn):
        if loaded_days:
            conn.register("loaded_days", pa.table({"day": pa.array(loaded_days, pa.date32())}))
            conn.execute(f"DELETE FROM {table} WHERE {PARTITION_COLUMN} IN (SELECT day FROM loaded_days)")
            conn.unregister("loaded_days")
            files = {d.day: d.landing_file for d in loads}
            for rows in accepted:
                if rows.num_rows:
                    conn.register("incoming_rows", rows)
                    conn.execute(
                        f"INSERT INTO {table} SELECT *, ? AS _landing_file, ? AS _loaded_at FROM incoming_rows",
                        [files[rows.column(PARTITION_COLUMN)[0].as_py()], at],
                    )
                    conn.unregister("incoming_rows")
        if landed_days:
            replace_quarantine(conn, spec.raw_table, landed_days, quarantined)
        record_loads(conn, _log_rows(spec, loads, at))


def _log_rows(spec: DatasetSpec, loads: tuple[DayLoad, ...], at: dt.datetime) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"dataset": spec.raw_table, PARTITION_COLUMN: d.day, "status": d.status, "reason": d.reason or None,
             "landing_file": d.landing_file, "landing_sha256": d.sha256, "rows_landed": d.rows_landed,
             "rows_loaded": d.rows_loaded, "rows_quarantined": d.rows_quarantined, "_logged_at": at,
             **_coverage_columns(d)}
            for d in loads
        ],
        schema=LOAD_LOG_SCHEMA,
    )


def _coverage_columns(load: DayLoad) -> dict:
    c = load.coverage
    if c is None:
        return {}
    return {"polls": c.polls, "polls_failed": c.polls_failed, "first_event_at": load.first_event_at,
            "last_event_at": load.last_event_at, "longest_poll_gap_s": int(c.longest_gap.total_seconds()),
            "uncovered_s": c.uncovered_seconds, "row_cap_hit": c.row_cap_hit}


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
