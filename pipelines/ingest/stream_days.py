"""The daily load of the stream archive: a day's liquidation orders per venue, from the collector's hourly files.

For each venue and day of the window (pipelines.collector.hourly_files is the archive's format):
- The sealed files of the day, plus the hour before and the hour after it, are read (verified against their
  sidecars): an order belongs to the UTC day of its event time (the venue's stamp), and a frame for the day's last
  moments may be received in the next hour. Files not yet sealed (a live collector's) are never read.
- Each frame is classified and parsed (pipelines.sources.liquidation_streams). A frame that cannot be read
  (malformed, unknown) goes to raw.quarantine with its file, line and reason; the rest of the hour is kept. An
  order stamped more than MAX_SKEW from when it was received (a clock off on either side, a replayed batch) is
  quarantined too, with both times. Heartbeats, acknowledgements, refusals and notices hold no orders.
- Orders are de-duplicated by `order_key` (the same order seen twice after a reconnect, by two overlapping
  connections): the first received is kept, the others counted as duplicates.
- Coverage (hourly_files.coverage): the seconds a writer was up and connected, the gaps with their reason, the
  messages, files interrupted by a dead writer, and whether the venue's feed is throttled (a lower bound).

Writes, in one transaction for the whole window: raw.liquidation_stream__orders (the day's orders per venue),
raw.liquidation_stream__coverage (one row per venue and day), raw.liquidation_stream__hours (one row per venue and
hour: seconds covered, frames, orders), the quarantine of the loaded venue-days and raw.load_log (dataset
`liquidation_stream__<venue>`). A venue-day whose archive cannot be read (a file not matching its sidecar) is
FAILED, and one with more than the reject threshold of its frames quarantined is REJECTED: neither touches its rows,
the other venue-days still load. A venue-day without any file (the collector was not running) keeps the rows it had
(an empty archive never empties a partition) and records zero coverage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.collector.hourly_files import (
    HOUR,
    Coverage,
    SealedHourFile,
    StreamArchiveError,
    coverage,
    iter_frames,
    open_hour_files,
    sealed_files,
)
from pipelines.duckdb_tables import column_definitions, transaction
from pipelines.ingest.errors import ParseError
from pipelines.ingest.load_log import FAILED, LOAD_LOG_SCHEMA, LOADED, REJECTED, ensure_load_log, record_loads
from pipelines.quality.quarantine import QUARANTINE_SCHEMA, ensure_quarantine_table, replace_quarantine
from pipelines.sources.liquidation_streams import FEEDS, LIQUIDATION_EVENT_SCHEMA, VENUES, Kind, parse_frame, skew_ms
from pipelines.sources.spec import PARTITION_COLUMN

ORDERS_TABLE = "liquidation_stream__orders"
COVERAGE_TABLE = "liquidation_stream__coverage"
HOURS_TABLE = "liquidation_stream__hours"
MAX_SKEW = dt.timedelta(minutes=10)

ORDERS_SCHEMA = pa.schema([pa.field(PARTITION_COLUMN, pa.date32()), *LIQUIDATION_EVENT_SCHEMA,
                           pa.field("_landing_file", pa.string()), pa.field("_loaded_at", pa.timestamp("us"))])
COVERAGE_SCHEMA = pa.schema([
    (PARTITION_COLUMN, pa.date32()),
    ("venue", pa.string()),
    ("status", pa.string()),  # the load's: loaded | rejected | failed (raw.load_log says why)
    ("throttled", pa.bool_()),  # the venue's feed is a sample: its orders and volumes are lower bounds
    ("files", pa.int32()),  # sealed hourly files of the day
    ("hours_with_file", pa.int32()),
    ("files_not_sealed", pa.int32()),  # a live collector's files, read once sealed
    ("interrupted_files", pa.int32()),  # sealed by recovery after the collector died
    ("covered_s", pa.float64()),  # seconds of the day a collector was up and connected
    ("uncovered_s", pa.float64()),
    ("longest_gap_s", pa.float64()),
    ("gaps", pa.int32()),
    ("gap_list", pa.string()),  # JSON [[start, end, reason], ...], UTC ISO-8601; reasons from hourly_files.Gap
    ("frames", pa.int64()),  # frames read from the day's files (the edges' hours excluded)
    ("data_frames", pa.int64()),
    ("frames_quarantined", pa.int64()),
    ("orders", pa.int64()),  # distinct orders of the day loaded
    ("duplicates", pa.int64()),  # orders seen again (reconnects, overlapping connections), counted once
    ("orders_not_followed", pa.int64()),  # orders of other coins or BTC contracts not followed
    ("_loaded_at", pa.timestamp("us")),
])
HOURS_SCHEMA = pa.schema([
    (PARTITION_COLUMN, pa.date32()),
    ("venue", pa.string()),
    ("hour", pa.timestamp("us")),  # UTC, naive
    ("covered_s", pa.float64()),
    ("frames", pa.int64()),
    ("orders", pa.int64()),
    ("_loaded_at", pa.timestamp("us")),
])
KEYS = {ORDERS_TABLE: (PARTITION_COLUMN, "order_key"), COVERAGE_TABLE: (PARTITION_COLUMN, "venue"),
        HOURS_TABLE: (PARTITION_COLUMN, "venue", "hour")}
SCHEMAS = {ORDERS_TABLE: ORDERS_SCHEMA, COVERAGE_TABLE: COVERAGE_SCHEMA, HOURS_TABLE: HOURS_SCHEMA}


def log_dataset(venue: str) -> str:
    return f"liquidation_stream__{venue}"


@dataclass
class VenueDay:
    venue: str
    day: dt.date
    status: str = LOADED
    reason: str = ""
    orders: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    cover: Coverage | None = None
    files: int = 0
    files_not_sealed: int = 0
    frames: int = 0
    data_frames: int = 0
    duplicates: int = 0
    not_followed: int = 0
    hour_frames: Counter = field(default_factory=Counter)

    @property
    def has_files(self) -> bool:
        return self.files > 0

    def line(self) -> str:
        """One line for the log: venue, day, outcome."""
        if self.status != LOADED:
            return f"liquidation_stream/{self.venue} {self.day}: {self.status}: {self.reason}"
        covered = self.cover.covered_seconds / 86400 if self.cover else 0.0
        return (f"liquidation_stream/{self.venue} {self.day}: {len(self.orders)} orders from {self.frames} frames "
                f"({self.duplicates} duplicates, {len(self.quarantined)} quarantined), {covered:.1%} of the day "
                "covered")


def _aware(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _relative(path: Path, tree_dir: Path) -> str:
    try:
        return str(path.relative_to(tree_dir))
    except ValueError:
        return str(path)


def read_venue_day(landing_root: Path, tree_dir: Path, venue: str, day: dt.date, loaded_at: dt.datetime,
                   reject_threshold: float) -> VenueDay:
    """Read one venue-day from the archive (see the module docstring); never raises for bad data."""
    result = VenueDay(venue, day)
    start, end = _aware(day), _aware(day) + dt.timedelta(days=1)
    try:
        # The day's hours and the one on each side; each file is verified once, as iter_frames reads it.
        files = sealed_files(landing_root, venue, [start + i * HOUR for i in range(-1, 25)])
        result.cover = coverage(landing_root, venue, day, files)
    except (StreamArchiveError, OSError, ValueError) as exc:
        result.status, result.reason = FAILED, f"the stream archive cannot be read: {exc}"
        return result
    result.files = sum(start <= f.hour < end for f in files)
    result.files_not_sealed = sum(1 for _ in open_hour_files(landing_root, venue, day))
    seen: dict[str, dict] = {}
    at = loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    try:
        for sealed in files:
            _read_file(result, sealed, tree_dir, seen, start, end, at)
    except (StreamArchiveError, OSError) as exc:
        result.status, result.reason = FAILED, f"the stream archive cannot be read: {exc}"
        result.orders, result.quarantined = [], []
        return result
    result.orders = sorted(seen.values(), key=lambda r: (r["event_time"], r["order_key"]))
    share = len(result.quarantined) / max(result.frames, 1)
    if result.quarantined and share > reject_threshold:
        result.status = REJECTED
        reasons = Counter(q["reason"].split(":")[0] for q in result.quarantined).most_common(3)
        result.reason = (f"{len(result.quarantined)} of {result.frames} frames quarantined ({share:.1%}), above the "
                         f"{reject_threshold:.1%} threshold: rows left as they were; "
                         + "; ".join(f"{n}× {why}" for why, n in reasons))
    return result


def _read_file(result: VenueDay, sealed: SealedHourFile, tree_dir: Path, seen: dict[str, dict],
               start: dt.datetime, end: dt.datetime, at: dt.datetime) -> None:
    in_day = start <= sealed.hour < end
    landing_file = _relative(sealed.path, tree_dir)
    for line, (received_at, text) in enumerate(iter_frames(sealed), start=1):
        if in_day:
            result.frames += 1
            result.hour_frames[sealed.hour] += 1
        try:
            parsed = parse_frame(result.venue, text, received_at)
        except ParseError as exc:
            if in_day:  # a frame of the hours around the day is its own day's to quarantine
                result.quarantined.append(_quarantine_row(result, landing_file, line, text,
                                                          f"frame not readable: {exc.reason}", at))
            continue
        if parsed.frame.kind is not Kind.DATA:
            continue
        if in_day:
            result.data_frames += 1
            result.not_followed += sum(parsed.skipped.values())
        for row in parsed.rows:
            event = row["event_time"].replace(tzinfo=dt.UTC)
            if not start <= event < end:
                continue  # another day's order (read there)
            if abs(skew_ms(row)) > MAX_SKEW.total_seconds() * 1000:
                result.quarantined.append(_quarantine_row(
                    result, landing_file, line, json.dumps(row, default=str, sort_keys=True),
                    f"clock skew: stamped {row['event_time'].isoformat()}, received {row['received_at'].isoformat()}"
                    f" (more than {MAX_SKEW} apart)", at))
                continue
            if row["order_key"] in seen:
                result.duplicates += 1
                continue
            seen[row["order_key"]] = {PARTITION_COLUMN: result.day, **row, "_landing_file": landing_file,
                                      "_loaded_at": at}


def _quarantine_row(result: VenueDay, landing_file: str, line: int, text: str, reason: str, at: dt.datetime) -> dict:
    return {"dataset": ORDERS_TABLE, PARTITION_COLUMN: result.day, "landing_file": landing_file,
            "row_number": line, "row_json": text, "reason": f"{result.venue} line {line}: {reason}",
            "_quarantined_at": at}


def _coverage_row(v: VenueDay, at: dt.datetime) -> dict:
    cover = v.cover
    gaps = cover.gaps if cover else ()
    covered = cover.covered_seconds if cover else 0.0
    return {
        PARTITION_COLUMN: v.day, "venue": v.venue, "status": v.status,
        "throttled": any(feed.throttled for feed in FEEDS[v.venue]),
        "files": v.files, "hours_with_file": len(cover.hours) if cover else 0, "files_not_sealed": v.files_not_sealed,
        "interrupted_files": cover.interrupted_files if cover else 0,
        "covered_s": covered, "uncovered_s": 86400.0 - covered,
        "longest_gap_s": max((g.seconds for g in gaps), default=0.0), "gaps": len(gaps),
        "gap_list": json.dumps([[g.start.isoformat(), g.end.isoformat(), g.reason] for g in gaps]),
        "frames": v.frames, "data_frames": v.data_frames, "frames_quarantined": len(v.quarantined),
        "orders": len(v.orders), "duplicates": v.duplicates, "orders_not_followed": v.not_followed,
        "_loaded_at": at,
    }


def _hour_rows(v: VenueDay, at: dt.datetime) -> list[dict]:
    start = _aware(v.day)
    orders = Counter(r["event_time"].replace(minute=0, second=0, microsecond=0) for r in v.orders)
    rows = []
    for i in range(24):
        hour = start + i * HOUR
        uncovered = sum(max(0.0, (min(g.end, hour + HOUR) - max(g.start, hour)).total_seconds())
                        for g in (v.cover.gaps if v.cover else ()))
        naive = hour.replace(tzinfo=None)
        rows.append({PARTITION_COLUMN: v.day, "venue": v.venue, "hour": naive,
                     "covered_s": 3600.0 - uncovered if v.cover else 0.0, "frames": v.hour_frames[hour],
                     "orders": orders[naive], "_loaded_at": at})
    return rows


def ensure_stream_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for table, schema in SCHEMAS.items():  # names and types are this module's constants
        columns = column_definitions(schema, not_null=KEYS[table])
        conn.execute(f'CREATE TABLE IF NOT EXISTS raw."{table}" (\n  ' + ",\n  ".join(columns) + "\n)")


def load_stream_window(conn: duckdb.DuckDBPyConnection, landing_root: Path, tree_dir: Path, days: list[dt.date],
                       loaded_at: dt.datetime, reject_threshold: float, venues: tuple[str, ...] = VENUES,
                       writing: Callable[[], AbstractContextManager] = contextlib.nullcontext) -> list[VenueDay]:
    """Read every venue-day of `days`, then write them all in one transaction (see the module docstring), inside
    `writing()`: reading the archive needs no lock, writing the tables does."""
    results = [read_venue_day(landing_root, tree_dir, venue, day, loaded_at, reject_threshold)
               for day in days for venue in venues]
    at = loaded_at.astimezone(dt.UTC).replace(tzinfo=None)
    replace = [v for v in results if v.status == LOADED and (v.has_files or v.orders)]
    with writing():  # the tables' lock (a lake's, pipelines/engine), from their creation to the commit
        ensure_stream_tables(conn)
        ensure_quarantine_table(conn)
        ensure_load_log(conn)
        with transaction(conn):
            if replace:
                conn.register("replaced", pa.Table.from_pylist(
                    [{"day": v.day, "venue": v.venue} for v in replace],
                    schema=pa.schema([("day", pa.date32()), ("venue", pa.string())])))
                for table in SCHEMAS:
                    conn.execute(f'DELETE FROM raw."{table}" AS t WHERE EXISTS (SELECT 1 FROM replaced AS r '
                                 f"WHERE r.day = t.{PARTITION_COLUMN} AND r.venue = t.venue)")
                conn.unregister("replaced")
                _insert(conn, ORDERS_TABLE, [row for v in replace for row in v.orders])
                _insert(conn, HOURS_TABLE, [row for v in replace for row in _hour_rows(v, at)])
            # Coverage is what the archive says now, whatever the load did with the rows: every venue-day.
            conn.register("covered", pa.Table.from_pylist(
                [{"day": v.day, "venue": v.venue} for v in results],
                schema=pa.schema([("day", pa.date32()), ("venue", pa.string())])))
            conn.execute(f'DELETE FROM raw."{COVERAGE_TABLE}" AS t WHERE EXISTS (SELECT 1 FROM covered AS r '
                         f"WHERE r.day = t.{PARTITION_COLUMN} AND r.venue = t.venue)")
            conn.unregister("covered")
            _insert(conn, COVERAGE_TABLE, [_coverage_row(v, at) for v in results])
            for venue in venues:
                read = [v for v in results if v.venue == venue and v.status != FAILED]
                if read:
                    rows = [q for v in read for q in v.quarantined]
                    replace_quarantine(conn, log_dataset(venue), [v.day for v in read],
                                       pa.Table.from_pylist([{**q, "dataset": log_dataset(venue)} for q in rows],
                                                            schema=QUARANTINE_SCHEMA))
            record_loads(conn, pa.Table.from_pylist([_log_row(v, at) for v in results], schema=LOAD_LOG_SCHEMA))
    return results


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    conn.register("incoming_rows", pa.Table.from_pylist(rows, schema=SCHEMAS[table]))
    conn.execute(f'INSERT INTO raw."{table}" SELECT * FROM incoming_rows')
    conn.unregister("incoming_rows")


def _log_row(v: VenueDay, at: dt.datetime) -> dict:
    landed = len(v.orders) + len(v.quarantined)
    return {"dataset": log_dataset(v.venue), PARTITION_COLUMN: v.day, "status": v.status,
            "reason": v.reason or (None if v.has_files else "no file in the stream archive: the collector was not "
                                   "running (rows kept as they were)"),
            "landing_file": None, "landing_sha256": None, "rows_landed": landed,
            "rows_loaded": len(v.orders) if v.status == LOADED else 0, "rows_quarantined": len(v.quarantined),
            "_logged_at": at,
            "first_event_at": min((r["event_time"] for r in v.orders), default=None),
            "last_event_at": max((r["event_time"] for r in v.orders), default=None),
            "uncovered_s": int(86400 - v.cover.covered_seconds) if v.cover else None}
