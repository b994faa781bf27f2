"""Raw stage: keys unique, and event timestamps inside the partition's UTC day."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.checks.outcome import CheckOutcome
from pipelines.ingest.raw_loader import RAW_SCHEMA
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec


def raw_keys_unique_and_in_day(
    conn: duckdb.DuckDBPyConnection, spec: DatasetSpec, start: dt.date, end: dt.date
) -> CheckOutcome:
    """Checks rows of [start, end) in raw.<table>. Identifiers come from the validated DatasetSpec."""
    table = f'{RAW_SCHEMA}."{spec.raw_table}"'
    keys = ", ".join(f'"{k}"' for k in spec.key_columns)
    window = f"{PARTITION_COLUMN} >= ? AND {PARTITION_COLUMN} < ?"
    duplicates = conn.execute(
        f"SELECT {keys}, count(*) AS n FROM {table} WHERE {window} GROUP BY ALL HAVING count(*) > 1 LIMIT 5",
        [start, end],
    ).fetchall()
    outside: list[tuple] = []
    if spec.event_time_column:
        ts = f'"{spec.event_time_column}"'
        outside = conn.execute(
            f"SELECT {PARTITION_COLUMN}, {ts} FROM {table} WHERE {window} "
            f"AND ({ts} < {PARTITION_COLUMN} OR {ts} >= {PARTITION_COLUMN} + INTERVAL 1 DAY) LIMIT 5",
            [start, end],
        ).fetchall()
    rows = conn.execute(f"SELECT count(*) FROM {table} WHERE {window}", [start, end]).fetchone()[0]
    problems = []
    if duplicates:
        problems.append(f"duplicate keys {spec.key_columns}: {[str(d) for d in duplicates]}")
    if outside:
        problems.append(f"{spec.event_time_column} outside the partition's UTC day: {[str(o) for o in outside]}")
    metadata = {"rows_checked": rows, "window": f"[{start}, {end})"}
    if problems:
        return CheckOutcome(False, f"raw.{spec.raw_table}: " + "; ".join(problems), metadata)
    return CheckOutcome(True, f"raw.{spec.raw_table}: {rows} rows, keys unique, timestamps in their day", metadata)
