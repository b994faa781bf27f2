"""What the daily report reads: one loader per section, each returning its rows or a Missing with the reason.

Only `marts` tables are read, so the report works on the published serving copy (which holds marts only) as
well as on the pipeline's file. Columns are named explicitly: they are the report's contract with the marts
(dbt/models/marts/**, and the gamma tables of pipelines/analytics/gamma_daily.py).

A section has data for a day when its main table has that day's row: a window that stops before the day would
show an older story under the day's heading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.analytics.gamma_daily import BY_STRIKE_SCHEMA, PROFILE_SCHEMA, REGIME_BANDS_SCHEMA, SUMMARY_SCHEMA

# Price and liquidations over two months show the slide into the day and the cascades on the way; the hash rate
# moves slower and its 52-week peak is the reference, so three months of it.
PRICE_WINDOW_DAYS = 60
MINING_WINDOW_DAYS = 90

HEADLINE_COLUMNS = (
    "date", "close", "low", "high", "level_events", "long_liquidated_usd", "short_liquidated_usd",
    "total_liquidated_usd", "funding_rate_daily", "open_interest_btc", "open_interest_change_pct",
    "hashrate_7d_avg_ehs", "hashrate_drawdown_from_peak_pct", "hashrate_peak_date", "hashprice_usd_per_ph_day",
    "yes_probability", "total_net_gex_usd", "zero_gamma_usd", "call_wall_usd", "put_wall_usd", "gamma_regime",
)


@dataclass(frozen=True)
class Missing:
    """No data for the section on that day, and why (shown in the report)."""

    reason: str


@dataclass(frozen=True)
class PriceWindow:
    prices: pa.Table  # date, low, high, close
    liquidations: pa.Table  # date, long_liquidated_usd, short_liquidated_usd (exchange 'all'; days without none)
    level_events: pa.Table  # date, level_usd, direction, close


@dataclass(frozen=True)
class GammaDayTables:
    by_strike: pa.Table
    profile: pa.Table
    regime_bands: pa.Table
    summary: pa.Table


def window_start(day: dt.date, days: int) -> dt.date:
    """First day of the `days`-day window ending on (and including) `day`."""
    return day - dt.timedelta(days=days - 1)


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    # fetchall, not fetchone: DuckDB 2 refuses the next conn.sql while a result is not read to its end.
    ((found,),) = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return found > 0


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> pa.Table:
    return conn.sql(sql, params=params).to_arrow_table()


def _absent(conn: duckdb.DuckDBPyConnection, *tables: str) -> Missing | None:
    for table in tables:
        if not table_exists(conn, "marts", table):
            return Missing(f"marts.{table} is not in this warehouse")
    return None


def _no_row(table: str, day: dt.date) -> Missing:
    return Missing(f"marts.{table} has no row for {day.isoformat()}")


def load_headline(conn: duckdb.DuckDBPyConnection, day: dt.date) -> dict | Missing:
    if missing := _absent(conn, "mart_market_daily"):
        return missing
    rows = _rows(conn, f"SELECT {', '.join(HEADLINE_COLUMNS)} FROM marts.mart_market_daily WHERE date = ?", [day])
    return rows.to_pylist()[0] if rows.num_rows else _no_row("mart_market_daily", day)


def load_price_window(conn: duckdb.DuckDBPyConnection, day: dt.date) -> PriceWindow | Missing:
    if missing := _absent(conn, "fct_btc_price_daily"):
        return missing
    start = window_start(day, PRICE_WINDOW_DAYS)
    prices = _rows(
        conn,
        "SELECT date, low, high, close FROM marts.fct_btc_price_daily WHERE date BETWEEN ? AND ? ORDER BY date",
        [start, day],
    )
    if day not in prices.column("date").to_pylist():
        return _no_row("fct_btc_price_daily", day)
    # The two other tables only add to the picture: absent, they show as no bars and no markers.
    liquidations = _rows(
        conn,
        "SELECT date, long_liquidated_usd, short_liquidated_usd FROM marts.fct_liquidations_daily "
        "WHERE exchange = 'all' AND date BETWEEN ? AND ? ORDER BY date",
        [start, day],
    ) if table_exists(conn, "marts", "fct_liquidations_daily") else _empty_liquidations()
    events = _rows(
        conn,
        "SELECT date, level_usd, direction, close FROM marts.fct_price_level_events "
        "WHERE date BETWEEN ? AND ? ORDER BY date, level_usd DESC, direction",
        [start, day],
    ) if table_exists(conn, "marts", "fct_price_level_events") else _empty_events()
    return PriceWindow(prices, liquidations, events)


def _empty_liquidations() -> pa.Table:
    return pa.table({"date": pa.array([], pa.date32()), "long_liquidated_usd": pa.array([], pa.float64()),
                     "short_liquidated_usd": pa.array([], pa.float64())})


def _empty_events() -> pa.Table:
    return pa.table({"date": pa.array([], pa.date32()), "level_usd": pa.array([], pa.int32()),
                     "direction": pa.array([], pa.string()), "close": pa.array([], pa.float64())})


def load_hashrate_window(conn: duckdb.DuckDBPyConnection, day: dt.date) -> pa.Table | Missing:
    if missing := _absent(conn, "fct_hashrate_daily"):
        return missing
    rows = _rows(
        conn,
        "SELECT date, hashrate_ehs, hashrate_7d_avg_ehs, peak_7d_avg_ehs, peak_date, drawdown_from_peak_pct "
        "FROM marts.fct_hashrate_daily WHERE date BETWEEN ? AND ? ORDER BY date",
        [window_start(day, MINING_WINDOW_DAYS), day],
    )
    return rows if day in rows.column("date").to_pylist() else _no_row("fct_hashrate_daily", day)


def load_hashprice_window(conn: duckdb.DuckDBPyConnection, day: dt.date) -> pa.Table | Missing:
    if missing := _absent(conn, "fct_miner_revenue_daily"):
        return missing
    # Hashprice is null on a day without a BTC price or hash rate: such days are left out of the line.
    rows = _rows(
        conn,
        "SELECT date, hashprice_usd_per_ph_day, revenue_usd FROM marts.fct_miner_revenue_daily "
        "WHERE date BETWEEN ? AND ? AND hashprice_usd_per_ph_day IS NOT NULL ORDER BY date",
        [window_start(day, MINING_WINDOW_DAYS), day],
    )
    if day not in rows.column("date").to_pylist():
        return Missing(f"marts.fct_miner_revenue_daily has no hashprice for {day.isoformat()}")
    return rows


_GAMMA_TABLES = {  # table -> (schema of its columns, ORDER BY the gamma plot expects)
    "fct_gamma_exposure_by_strike": (BY_STRIKE_SCHEMA, "strike"),
    "fct_gamma_profile": (PROFILE_SCHEMA, "price_level_usd"),
    "fct_gamma_regime_bands": (REGIME_BANDS_SCHEMA, "low_usd"),
    "fct_gamma_summary_daily": (SUMMARY_SCHEMA, "snapshot_date"),
}


def load_gamma_day(conn: duckdb.DuckDBPyConnection, day: dt.date, currency: str = "BTC") -> GammaDayTables | Missing:
    """The day's gamma tables of one currency (the report is about BTC)."""
    if missing := _absent(conn, *_GAMMA_TABLES):
        return missing
    tables = {}
    for table, (schema, order) in _GAMMA_TABLES.items():
        columns = ", ".join(f'"{name}"' for name in schema.names)  # names owned by gamma_daily.py
        tables[table] = _rows(
            conn, f"SELECT {columns} FROM marts.{table} WHERE snapshot_date = ? AND currency = ? ORDER BY {order}",
            [day, currency],
        ).cast(schema)
    if tables["fct_gamma_summary_daily"].num_rows == 0:
        return _no_row("fct_gamma_summary_daily", day)
    return GammaDayTables(
        by_strike=tables["fct_gamma_exposure_by_strike"],
        profile=tables["fct_gamma_profile"],
        regime_bands=tables["fct_gamma_regime_bands"],
        summary=tables["fct_gamma_summary_daily"],
    )
