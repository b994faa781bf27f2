"""`raw.load_log`: one row per (dataset, day) loaded — what landed, what reached raw, what was quarantined.

It lets a reader reconcile the stages (rows landed = rows loaded + rows quarantined; rows loaded = rows in raw =
rows staged) and tells an engineer which body each day came from and why a day was not loaded.

A polled dataset (OKX liquidations: pipelines.ingest.polls) also records the day's coverage: the polls that
reached into it and those that failed, its first and last event time, the longest gap between consecutive polls
(seconds), the seconds of the day no poll covered, and whether a poll ran out at the source's row cap. They are
null for every other dataset. Warehouses created before these columns gain them on the next load (ALTER TABLE
... ADD COLUMN IF NOT EXISTS).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from pipelines.duckdb_tables import in_ducklake
from pipelines.sources.spec import PARTITION_COLUMN

LOAD_LOG_TABLE = "raw.load_log"
LOADED = "loaded"  # the day's accepted rows replaced its raw partition
REJECTED = "rejected"  # too many rows quarantined: the raw partition kept its previous rows
FAILED = "failed"  # no usable body (fetch error, error envelope, parse error): nothing written to raw
LOAD_LOG_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        (PARTITION_COLUMN, pa.date32()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("landing_file", pa.string()),
        ("landing_sha256", pa.string()),
        ("rows_landed", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("_logged_at", pa.timestamp("us")),
        ("polls", pa.int32()),
        ("polls_failed", pa.int32()),
        ("first_event_at", pa.timestamp("us")),
        ("last_event_at", pa.timestamp("us")),
        ("longest_poll_gap_s", pa.int64()),
        ("uncovered_s", pa.int64()),
        ("row_cap_hit", pa.bool_()),
    ]
)
# Added after the first release: (name, DuckDB type), appended in this order to older tables.
COVERAGE_COLUMNS = (
    ("polls", "INTEGER"), ("polls_failed", "INTEGER"), ("first_event_at", "TIMESTAMP"),
    ("last_event_at", "TIMESTAMP"), ("longest_poll_gap_s", "BIGINT"), ("uncovered_s", "BIGINT"),
    ("row_cap_hit", "BOOLEAN"),
)


def ensure_load_log(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    # A DuckLake has no primary keys: there, record_loads alone keeps one row per (dataset, day).
    key = "" if in_ducklake(conn) else f",\n            PRIMARY KEY (dataset, {PARTITION_COLUMN})"
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOAD_LOG_TABLE} (
            dataset VARCHAR NOT NULL, {PARTITION_COLUMN} DATE NOT NULL, status VARCHAR NOT NULL, reason VARCHAR,
            landing_file VARCHAR, landing_sha256 VARCHAR, rows_landed BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
            rows_quarantined BIGINT NOT NULL, _logged_at TIMESTAMP NOT NULL{key})"""
    )
    for name, sql_type in COVERAGE_COLUMNS:  # names and types are the constants above, never input
        conn.execute(f"ALTER TABLE {LOAD_LOG_TABLE} ADD COLUMN IF NOT EXISTS {name} {sql_type}")


def record_loads(conn: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Upsert the log rows (LOAD_LOG_SCHEMA). Runs inside the caller's transaction."""
    conn.register("load_log_rows", rows)
    columns = ", ".join(LOAD_LOG_SCHEMA.names)  # by name: an older table's columns may be in another order
    # A delete of the same keys, then the insert: what INSERT OR REPLACE does on the file's primary key, and the
    # only form a DuckLake takes (it has no primary keys).
    conn.execute(f"DELETE FROM {LOAD_LOG_TABLE} WHERE (dataset, {PARTITION_COLUMN}) IN "
                 f"(SELECT (dataset, {PARTITION_COLUMN}) FROM load_log_rows)")
    conn.execute(f"INSERT INTO {LOAD_LOG_TABLE} ({columns}) SELECT {columns} FROM load_log_rows")
    conn.unregister("load_log_rows")
