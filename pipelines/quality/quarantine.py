"""Rows refused by the quality rules, kept with their reasons in `raw.quarantine` instead of vanishing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.sources.spec import PARTITION_COLUMN

QUARANTINE_TABLE = "raw.quarantine"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),  # the raw table's name, e.g. deribit__option_book_summary
        (PARTITION_COLUMN, pa.date32()),
        ("landing_file", pa.string()),  # the archived body the row came from, relative to the mode's tree
        ("row_number", pa.int64()),  # position of the row among the day's parsed rows, from 0
        ("row_json", pa.string()),  # the parsed row, as the parser produced it
        ("reason", pa.string()),  # every rule it broke, "; "-separated
        ("_quarantined_at", pa.timestamp("us")),
    ]
)
EXACT_DUPLICATE = "an exact duplicate of an earlier row of the day (kept once)"


@dataclass(frozen=True)
class Split:
    accepted: pa.Table
    rejected: pa.Table  # QUARANTINE_SCHEMA rows


def split_day(
    table: pa.Table,
    reasons: dict[int, list[str]],
    dataset: str,
    day: dt.date,
    landing_file: str,
    quarantined_at: dt.datetime,
) -> Split:
    """Rows of one day (positions 0..n-1) without reasons are accepted; the others become quarantine rows."""
    bad = sorted(reasons)
    keep = [i for i in range(table.num_rows) if i not in reasons]
    rows = table.take(pa.array(bad, pa.int64())).to_pylist()
    at = quarantined_at.astimezone(dt.UTC).replace(tzinfo=None)
    rejected = pa.Table.from_pylist(
        [
            {
                "dataset": dataset,
                PARTITION_COLUMN: day,
                "landing_file": landing_file,
                "row_number": position,
                "row_json": json.dumps(row, default=str),
                "reason": "; ".join(dict.fromkeys(reasons[position])),
                "_quarantined_at": at,
            }
            for position, row in zip(bad, rows)
        ],
        schema=QUARANTINE_SCHEMA,
    )
    return Split(table.take(pa.array(keep, pa.int64())), rejected)


def exact_duplicate_positions(table: pa.Table) -> list[int]:
    """Positions of rows identical to an earlier row: a repeated row is one fact, kept once."""
    seen: set[tuple] = set()
    repeats: list[int] = []
    for position, row in enumerate(table.to_pylist()):
        fingerprint = tuple(str(v) for v in row.values())  # str: NaN != NaN would hide a repeat
        if fingerprint in seen:
            repeats.append(position)
        seen.add(fingerprint)
    return repeats


def ensure_quarantine_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
            dataset VARCHAR NOT NULL, {PARTITION_COLUMN} DATE NOT NULL, landing_file VARCHAR NOT NULL,
            row_number BIGINT NOT NULL, row_json VARCHAR NOT NULL, reason VARCHAR NOT NULL,
            _quarantined_at TIMESTAMP NOT NULL)"""
    )


def replace_quarantine(conn: duckdb.DuckDBPyConnection, dataset: str, days: list[dt.date], rows: pa.Table) -> None:
    """The quarantine of (dataset, day) for each of `days` becomes `rows`: a rerun does not pile up copies.
    Runs inside the caller's transaction."""
    conn.register("quarantine_days", pa.table({"day": pa.array(days, pa.date32())}))
    conn.execute(
        f"DELETE FROM {QUARANTINE_TABLE} WHERE dataset = ? "
        f"AND {PARTITION_COLUMN} IN (SELECT day FROM quarantine_days)",
        [dataset],
    )
    conn.unregister("quarantine_days")
    conn.register("quarantine_rows", rows)
    conn.execute(f"INSERT INTO {QUARANTINE_TABLE} SELECT * FROM quarantine_rows")
    conn.unregister("quarantine_rows")
