"""The short summary printed after a run: rows per mart and the last day's headline figures."""

from __future__ import annotations

import duckdb

from pipelines import engine
from pipelines.settings import Settings

HEADLINE_QUERY = """
    SELECT *
    FROM marts.mart_market_daily
    WHERE date = (SELECT max(date) FROM marts.mart_market_daily)
"""


def mart_row_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY table_name"
    ).fetchall()
    # Table names come from the catalog, not from outside input.
    return {name: conn.execute(f'SELECT count(*) FROM marts."{name}"').fetchone()[0] for (name,) in tables}


def headline(conn: duckdb.DuckDBPyConnection) -> dict | None:
    cursor = conn.execute(HEADLINE_QUERY)
    row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _fmt(value, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def headline_lines(head: dict) -> list[str]:
    rows = [
        ("close (consolidated)", _fmt(head["close"], "${:,.0f}")),
        ("level events", head["level_events"] or "none"),
        ("liquidations long / short", _fmt(head["long_liquidated_usd"], "${:,.0f}") + " / "
         + _fmt(head["short_liquidated_usd"], "${:,.0f}")),
        ("funding (daily, Binance)", _fmt(head["funding_rate_daily"] and head["funding_rate_daily"] * 100, "{:+.4f}%")),
        ("open interest change (Bybit)", _fmt(head["open_interest_change_pct"], "{:+.2f}%")),
        ("hash rate 7-day average", _fmt(head["hashrate_7d_avg_ehs"], "{:,.1f} EH/s")),
        ("  from its peak", _fmt(head["hashrate_drawdown_from_peak_pct"], "{:+.1f}%")
         + _fmt(head["hashrate_peak_date"], " (peak {})")),
        ("hashprice", _fmt(head["hashprice_usd_per_ph_day"], "${:,.2f} per PH/s per day")),
        ("prediction market YES", _fmt(head["yes_probability"] and head["yes_probability"] * 100, "{:.1f}%")),
        ("total net GEX", _fmt(head["total_net_gex_usd"] and head["total_net_gex_usd"] / 1e6, "${:,.1f}M per 1% move")),
        ("zero-gamma level", _fmt(head["zero_gamma_usd"], "${:,.0f}")),
        ("call wall / put wall", _fmt(head["call_wall_usd"], "${:,.0f}") + " / " + _fmt(head["put_wall_usd"], "${:,.0f}")),
        ("dealer regime", head["gamma_regime"] or "n/a"),
    ]
    return [f"  {label:<30} {value}" for label, value in rows]


def format_summary(settings: Settings) -> str:
    with engine.connect(settings, read_only=True) as conn:
        counts = mart_row_counts(conn)
        head = headline(conn) if "mart_market_daily" in counts else None
    lines = [f"Warehouse: {engine.describe(settings)}", "Rows per mart:"]
    lines += [f"  marts.{name:<34} {count:>8,}" for name, count in counts.items()]
    if head:
        lines += [f"Last day {head['date']}:", *headline_lines(head)]
    return "\n".join(lines)
