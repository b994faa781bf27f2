"""`raw.load_log`: one row per (dataset, day) loaded — what landed, what reached raw, what was quarantined.

It lets a reader reconcile the stages (rows landed = rows loaded + rows quarantined; rows loaded = rows in raw =
rows staged) and tells an engineer which body each day came from and why a day was not loaded.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

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
    ]
)


def ensure_load_log(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOAD_LOG_TABLE} (
            dataset VARCHAR NOT NULL, {PARTITION_COLUMN} DATE NOT NULL, status VARCHAR NOT NULL, reason VARCHAR,
            landing_file VARCHAR, landing_sha256 VARCHAR, rows_landed BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
            rows_quarantined BIGINT NOT NULL, _logged_at TIMESTAMP NOT NULL,
            PRIMARY KEY (dataset, {PARTITION_COLUMN}))"""
    )


def record_loads(conn: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Upsert the log rows (LOAD_LOG_SCHEMA). Runs inside the caller's transaction."""
    conn.register("load_log_rows", rows)
    conn.execute(f"INSERT OR REPLACE INTO {LOAD_LOG_TABLE} SELECT * FROM load_log_rows")
    conn.unregister("load_log_rows")
