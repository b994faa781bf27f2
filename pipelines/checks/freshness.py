"""Marts: is each one's newest day recent enough for the night's run?

The nightly run of day D + 1 (00:30 UTC) loads partition D, so a mart whose newest day is D is fresh, and one that
stops at D - 1 missed a night. `as_of` is the day the nightly runs and `max_lag_days` (1: yesterday) how far
behind it the newest day may be. Plain data in, CheckOutcome out: no Dagster here.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from pipelines.checks.outcome import CheckOutcome

# Schema, table and column names are interpolated into SQL (identifiers cannot be bound as parameters): they come
# from code, not users, but a typo or a stray quote must fail loudly here rather than reach the query.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _identifier(name: str) -> str:
    """`name` quoted for DuckDB, after checking it is a plain lower-case identifier."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    return f'"{name}"'


def _newest(conn: duckdb.DuckDBPyConnection, schema: str, table: str, date_column: str) -> tuple[bool, dt.date | None]:
    """(exists, newest day): whether the table has the date column at all, and its largest value (None if empty)."""
    quoted = f"{_identifier(schema)}.{_identifier(table)}"
    column = _identifier(date_column)
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [schema, table, date_column],
    ).fetchone()[0]
    if not exists:
        return False, None
    newest = conn.execute(f"SELECT max({column}) FROM {quoted}").fetchone()[0]
    # A timestamp column answers a datetime: its day is what freshness is about.
    if isinstance(newest, dt.datetime):
        newest = newest.date()
    return True, newest


def mart_freshness(
    conn: duckdb.DuckDBPyConnection,
    marts: list[tuple[str, str]],
    *,
    as_of: dt.date,
    date_column: str = "date",
    max_lag_days: int = 1,
) -> CheckOutcome:
    """Passes when every mart's newest `date_column` is at least `as_of - max_lag_days`.

    `date_column` is "date" in every dbt mart; fct_option_chain_snapshot and the gamma tables name it
    "snapshot_date" (check those in a second call). Keyword-only, so a date cannot land in the wrong slot.

    A mart that is missing, lacks the column, or is empty fails (it has no fresh day). A newest day after
    `as_of` is not stale: it passes with a negative lag in the metadata. Metadata: per mart (`schema.table`),
    its newest day (ISO, or None) and lag in days behind `as_of`.
    """
    # datetime is a subclass of date: a timestamp would compare against dates with a TypeError or, worse, a
    # time of day silently dropped by the caller; the run's day is what is meant.
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    if isinstance(max_lag_days, bool) or not isinstance(max_lag_days, int) or max_lag_days < 0:
        raise ValueError(f"max_lag_days must be a non-negative int, got {max_lag_days!r}")
    if not marts:
        raise ValueError("no marts to check")
    for name in (date_column, *(part for mart in marts for part in mart)):  # all of them before any query
        _identifier(name)

    oldest_allowed = as_of - dt.timedelta(days=max_lag_days)
    per_mart: dict[str, dict[str, object]] = {}
    problems: list[str] = []
    for schema, table in marts:
        name = f"{schema}.{table}"
        exists, newest = _newest(conn, schema, table, date_column)
        lag = (as_of - newest).days if newest is not None else None
        per_mart[name] = {"newest": newest.isoformat() if newest is not None else None, "lag_days": lag}
        if not exists:
            problems.append(f"{name}: no such table or no column {date_column}")
        elif newest is None:
            problems.append(f"{name}: empty")
        elif newest < oldest_allowed:
            problems.append(f"{name}: newest {newest.isoformat()} is {lag} day(s) behind {as_of.isoformat()}")

    metadata = {"as_of": as_of.isoformat(), "max_lag_days": max_lag_days, "oldest_allowed": oldest_allowed.isoformat(),
                "marts": per_mart}
    if problems:
        return CheckOutcome(False, f"{len(problems)} of {len(marts)} mart(s) stale: " + "; ".join(problems), metadata)
    return CheckOutcome(
        True, f"{len(marts)} mart(s) fresh: newest day >= {oldest_allowed.isoformat()} (as of {as_of.isoformat()})",
        metadata,
    )
