"""Raw stage checks, on a read-only connection after the load: the dataset's Great Expectations suite over the
window's raw rows, and each day's row count against its trailing 14 days (volume anomaly)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa

from pipelines.checks.outcome import CheckOutcome
from pipelines.ingest.raw_loader import RAW_SCHEMA
from pipelines.quality import rules as q
from pipelines.quality.derived import with_derived_columns
from pipelines.duckdb_tables import duckdb_type
from pipelines.ingest.raw_loader import LINEAGE_COLUMNS
from pipelines.quality.suites import row_expectations, schema_expectations, volume_expectations
from pipelines.quality.validation import SAMPLE_SIZE, validate_rows
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec


def read_raw_window(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec, start: dt.date, end: dt.date) -> pa.Table:
    # Identifiers come from the validated DatasetSpec; values are parameters.
    columns = ", ".join(f'"{c}"' for c in spec.raw_schema.names)
    return conn.sql(
        f'SELECT {columns} FROM {RAW_SCHEMA}."{spec.raw_table}" '
        f"WHERE {PARTITION_COLUMN} >= ? AND {PARTITION_COLUMN} < ? ORDER BY ALL",
        params=[start, end],
    ).to_arrow_table()


def schema_frame(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec) -> pa.Table:
    """Declared vs actual (column, type) by position, lineage columns included: a missing, extra, moved or
    retyped column shows as a row whose two sides differ."""
    declared = [(f.name, duckdb_type(f.type)) for f in spec.raw_schema]
    declared += [(c, t) for c, t in zip(LINEAGE_COLUMNS, ("VARCHAR", "TIMESTAMP"))]
    actual = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [RAW_SCHEMA, spec.raw_table],
    ).fetchall()
    width = max(len(declared), len(actual))
    pad = [(None, None)] * width
    rows = list(zip((declared + pad)[:width], (actual + pad)[:width]))
    return pa.table({
        "declared_column": [d[0] for d, _ in rows], "table_column": [a[0] for _, a in rows],
        "declared_type": [d[1] for d, _ in rows], "table_type": [a[1] for _, a in rows],
    })


def raw_expectations(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec, start: dt.date, end: dt.date) -> CheckOutcome:
    """The suite (schema, types, keys, day bounds, value rules) over raw rows of [start, end)."""
    table = read_raw_window(conn, spec, start, end)
    schema = validate_rows(f"{spec.raw_table}.schema", schema_expectations(), schema_frame(conn, spec))
    rows = validate_rows(f"{spec.raw_table}.rows", row_expectations(spec), with_derived_columns(spec, table))
    failures = [*schema.failures, *rows.failures]
    metadata = {
        "window": f"[{start}, {end})",
        "rows_checked": table.num_rows,
        "expectations_evaluated": schema.evaluated + rows.evaluated,
        "expectations_failed": len(failures),
    }
    if not failures:
        return CheckOutcome(True, f"raw.{spec.raw_table}: {table.num_rows} rows meet all "
                                  f"{metadata['expectations_evaluated']} expectations", metadata)
    sample = sorted(rows.row_reasons)[:SAMPLE_SIZE]
    metadata["failing_expectations"] = [f.describe() for f in failures]
    metadata["sample_failing_rows"] = [
        json.dumps({**row, "_reasons": rows.row_reasons[i]}, default=str)
        for i, row in zip(sample, table.take(pa.array(sample, pa.int64())).to_pylist())
    ]
    return CheckOutcome(False, f"raw.{spec.raw_table}: " + "; ".join(f.describe() for f in failures[:3]), metadata)


def daily_volumes(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec, start: dt.date, end: dt.date) -> pa.Table:
    """(partition_date, rows, trailing_median, ratio) for each day of the window holding rows; the median is over
    the days before it (within 14 days) that hold rows, null with fewer than 7 such days."""
    return conn.sql(
        f"""
        WITH counts AS (
            SELECT {PARTITION_COLUMN}, count(*) AS rows FROM {RAW_SCHEMA}."{spec.raw_table}"
            WHERE {PARTITION_COLUMN} >= ? - INTERVAL {q.VOLUME_TRAILING_DAYS} DAY AND {PARTITION_COLUMN} < ?
            GROUP BY ALL
        ), with_trailing AS (
            SELECT {PARTITION_COLUMN}, rows,
                   median(rows) OVER w AS trailing_median, count(*) OVER w AS trailing_days
            FROM counts
            WINDOW w AS (ORDER BY {PARTITION_COLUMN}
                         RANGE BETWEEN INTERVAL {q.VOLUME_TRAILING_DAYS} DAY PRECEDING AND INTERVAL 1 DAY PRECEDING)
        )
        SELECT {PARTITION_COLUMN}, rows,
               CASE WHEN trailing_days >= ? THEN trailing_median END AS trailing_median,
               CASE WHEN trailing_days >= ? THEN rows / trailing_median END AS ratio
        FROM with_trailing WHERE {PARTITION_COLUMN} >= ? ORDER BY {PARTITION_COLUMN}
        """,
        params=[start, end, q.VOLUME_MIN_HISTORY_DAYS, q.VOLUME_MIN_HISTORY_DAYS, start],
    ).to_arrow_table()


def raw_volume_in_band(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec, start: dt.date, end: dt.date) -> CheckOutcome:
    expectations = volume_expectations(spec)
    if not expectations:
        return CheckOutcome(True, f"raw.{spec.raw_table}: row count is the signal here, not checked for anomalies",
                            {"window": f"[{start}, {end})"})
    volumes = daily_volumes(conn, spec, start, end)
    verdict = validate_rows(f"{spec.raw_table}.volume", expectations, volumes)
    metadata = {"window": f"[{start}, {end})", "days_checked": volumes.num_rows}
    if verdict.success:
        return CheckOutcome(True, f"raw.{spec.raw_table}: daily row counts within their trailing band", metadata)
    odd = volumes.take(pa.array(sorted(verdict.row_reasons), pa.int64())).to_pylist()
    metadata["anomalous_days"] = [json.dumps(d, default=str) for d in odd[:20]]
    listed = ", ".join(f"{d[PARTITION_COLUMN]}: {d['rows']} rows vs median {d['trailing_median']}" for d in odd[:5])
    return CheckOutcome(False, f"raw.{spec.raw_table}: {len(odd)} day(s) with anomalous row counts ({listed}); "
                               f"{verdict.failures[0].why}", metadata)

