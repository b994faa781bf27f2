"""The short summary printed after a run: rows per mart and the last day's headline figures."""

from __future__ import annotations

from pathlib import Path

import duckdb

HEADLINE_QUERY = """
    WITH last_day AS (SELECT max(date) AS date FROM marts.fct_btc_price_daily)
    SELECT p.date, p.close, p.source_count, h.hashrate_7d_avg_ehs, g.total_net_gex_usd, g.zero_gamma_usd,
           g.call_wall_usd, g.put_wall_usd, g.regime
    FROM last_day
    JOIN marts.fct_btc_price_daily p USING (date)
    LEFT JOIN marts.fct_hashrate_daily h USING (date)
    LEFT JOIN marts.fct_gamma_summary_daily g ON g.snapshot_date = p.date
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


def _usd(value: float | None, scale: float = 1.0, suffix: str = "") -> str:
    return "n/a" if value is None else f"${value / scale:,.1f}{suffix}" if scale != 1 else f"${value:,.0f}"


def format_summary(duckdb_path: Path) -> str:
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        counts = mart_row_counts(conn)
        head = headline(conn)
    lines = [f"Warehouse: {duckdb_path}", "Rows per mart:"]
    lines += [f"  marts.{name:<34} {count:>8,}" for name, count in counts.items()]
    if head:
        lines += [
            f"Last day {head['date']}:",
            f"  close (consolidated, {head['source_count']} exchanges)  {_usd(head['close'])}",
            "  hash rate 7-day average          "
            + ("n/a" if head["hashrate_7d_avg_ehs"] is None else f"{head['hashrate_7d_avg_ehs']:,.1f} EH/s"),
            f"  total net GEX                    {_usd(head['total_net_gex_usd'], 1e6, 'M per 1% move')}",
            f"  zero-gamma level                 {_usd(head['zero_gamma_usd'])}",
            f"  call wall / put wall             {_usd(head['call_wall_usd'])} / {_usd(head['put_wall_usd'])}",
            f"  dealer regime                    {head['regime'] or 'n/a'}",
        ]
    return "\n".join(lines)
