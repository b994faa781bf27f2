"""A small hand-made warehouse with the marts the daily report reads: 2025-11-17 … 2025-11-21 for price, mining
and the dashboard row, gamma for 2025-11-21 only. No pipeline run needed.

A plain module (imported by the tests of this folder, which pytest puts on sys.path), not conftest.py: the
project's tests/conftest.py already claims the module name `conftest`."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.analytics.gamma_daily import BY_STRIKE_SCHEMA, PROFILE_SCHEMA, REGIME_BANDS_SCHEMA, SUMMARY_SCHEMA
from pipelines.reporting.day_data import HEADLINE_COLUMNS

DAYS = [dt.date(2025, 11, 17) + dt.timedelta(days=i) for i in range(5)]
GAMMA_DAY = DAYS[-1]
HOSTILE = '<script>alert("x")</script> & co'  # text that must come out escaped


def _create(conn: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    conn.register("rows", rows)
    conn.execute(f"CREATE TABLE marts.{table} AS SELECT * FROM rows")
    conn.unregister("rows")


def _recorded(columns: dict, n: int) -> dict:
    """The gamma tables' last columns: the assumptions a row was computed under (the defaults)."""
    return {**columns, "dealer_convention": ["long_calls_short_puts"] * n, "near_expiry_policy": ["include"] * n,
            "t_floor_hours": pa.nulls(n, pa.float64())}


def gamma_tables(day: dt.date) -> dict[str, pa.Table]:
    spot, zero = 88_500.0, 86_700.0
    strikes = [80_000.0, 85_000.0, 88_000.0, 90_000.0, 95_000.0]
    calls = [1e6, 5e6, 20e6, 70e6, 15e6]
    puts = [-25e6, -15e6, -8e6, -30e6, -1e6]
    levels = [spot * k / 400 for k in range(200, 601, 8)]
    # A profile short gamma below the zero-gamma level and long above it (a tanh through `zero`).
    profile = [150e6 * math.tanh((level - zero) / 3000) for level in levels]
    return {
        "fct_gamma_exposure_by_strike": pa.table(_recorded(
            {"snapshot_date": [day] * 5, "currency": ["BTC"] * 5, "strike": strikes, "call_gex_usd": calls, "put_gex_usd": puts,
             "net_gex_usd": [c + p for c, p in zip(calls, puts)], "call_oi": [100.0] * 5,
             "put_oi": [120.0] * 5}, 5),
            schema=BY_STRIKE_SCHEMA,
        ),
        "fct_gamma_profile": pa.table(_recorded(
            {"snapshot_date": [day] * len(levels), "currency": ["BTC"] * len(levels), "price_level_usd": levels, "net_gex_usd": profile},
            len(levels)),
            schema=PROFILE_SCHEMA,
        ),
        "fct_gamma_regime_bands": pa.table(_recorded(
            {"snapshot_date": [day] * 2, "currency": ["BTC"] * 2, "low_usd": [levels[0], zero], "high_usd": [zero, levels[-1]],
             "regime": ["short_gamma", "long_gamma"]}, 2),
            schema=REGIME_BANDS_SCHEMA,
        ),
        "fct_gamma_summary_daily": pa.table(_recorded(
            {"snapshot_date": [day], "currency": ["BTC"], "spot_usd": [spot], "total_net_gex_usd": [105e6], "zero_gamma_usd": [zero],
             "call_wall_usd": [90_000.0], "put_wall_usd": [90_000.0], "regime": ["long_gamma"],
             "gex_within_2pct_of_spot_usd": [60e6], "rows_used": [10], "rows_excluded": [0],
             "gross_gex_usd": [180e6], "total_net_gex_incl_same_day_usd": [105e6],
             "total_net_gex_excl_same_day_usd": [90e6], "same_day_gross_gex_usd": [20e6], "rows_same_day": [2]}, 1),
            schema=SUMMARY_SCHEMA,
        ),
    }


def build_report_warehouse(path: Path, *, with_gamma: bool = True) -> Path:
    closes = [94_000.0, 92_500.0, 92_050.0, 89_900.0, 88_820.0]
    n = len(DAYS)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        _create(conn, "fct_btc_price_daily", pa.table({
            "date": DAYS, "open": closes, "high": [c * 1.02 for c in closes], "low": [c * 0.98 for c in closes],
            "close": closes}))
        _create(conn, "fct_liquidations_daily", pa.table({
            "date": DAYS + DAYS, "exchange": ["okx"] * n + ["all"] * n,
            "long_liquidated_usd": [10e6, 20e6, 30e6, 195e6, 17e6] * 2,
            "short_liquidated_usd": [5e6, 1e6, 2e6, 0.5e6, 0.7e6] * 2,
            "total_liquidated_usd": [15e6, 21e6, 32e6, 195.5e6, 17.7e6] * 2}))
        _create(conn, "fct_price_level_events", pa.table({
            "date": [DAYS[3]], "level_usd": pa.array([92_000], pa.int32()), "direction": ["break_down"],
            "close": [89_900.0]}))
        _create(conn, "fct_hashrate_daily", pa.table({
            "date": DAYS, "hashrate_ehs": [1000.0, 980.0, 950.0, 990.0, 960.0],
            "hashrate_7d_avg_ehs": [1010.0, 990.0, 970.0, 955.0, 940.0], "peak_7d_avg_ehs": [1131.5] * n,
            "peak_date": [dt.date(2025, 10, 19)] * n,
            "drawdown_from_peak_pct": [(v / 1131.5 - 1) * 100 for v in (1010.0, 990.0, 970.0, 955.0, 940.0)]}))
        _create(conn, "fct_miner_revenue_daily", pa.table({
            "date": DAYS, "hashprice_usd_per_ph_day": [41.5, 41.3, 40.8, 39.9, 39.33],
            "revenue_usd": [41.5e6, 40.5e6, 38.8e6, 39.5e6, 37.8e6]}))
        dashboard = {name: [None] * n for name in HEADLINE_COLUMNS}
        dashboard.update({
            "date": DAYS, "close": closes, "low": [c * 0.98 for c in closes], "high": [c * 1.02 for c in closes],
            "level_events": ["", "", "", "break_down 92000", HOSTILE],
            "long_liquidated_usd": [10e6, 20e6, 30e6, 195e6, 17e6],
            "short_liquidated_usd": [5e6, 1e6, 2e6, 0.5e6, 0.7e6],
            "total_liquidated_usd": [15e6, 21e6, 32e6, 195.5e6, 17.7e6],
            "funding_rate_daily": [0.0001, 0.0, -0.0002, -0.0004, -0.00058],
            "hashrate_7d_avg_ehs": [1010.0, 990.0, 970.0, 955.0, 940.0],
            "hashrate_drawdown_from_peak_pct": [-10.7, -12.5, -14.3, -15.6, -16.9],
            "hashrate_peak_date": [dt.date(2025, 10, 19)] * n,
            "hashprice_usd_per_ph_day": [41.5, 41.3, 40.8, 39.9, 39.33],
            "yes_probability": [0.3, 0.28, 0.26, 0.24, 0.215],
            "gamma_regime": [None, None, None, None, "long_gamma"],
            "total_net_gex_usd": [None, None, None, None, 105e6],
        })
        types = {"date": pa.date32(), "hashrate_peak_date": pa.date32(), "level_events": pa.string(),
                 "gamma_regime": pa.string()}
        _create(conn, "mart_market_daily", pa.table(
            {name: pa.array(dashboard[name], types.get(name, pa.float64())) for name in HEADLINE_COLUMNS}))
        if with_gamma:
            for table, rows in gamma_tables(GAMMA_DAY).items():
                _create(conn, table, rows)
    return path

