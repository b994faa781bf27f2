"""The daily report: one static HTML page per day, `<out_dir>/<YYYY-MM-DD>.html`, from a read-only connection.

Sections: the headline numbers (marts.mart_market_daily), the market note (pipelines/reporting/market_note.py), price with liquidations and level breaks, hash rate
against its 52-week peak, hashprice, and dealer gamma by strike (the picture of pipelines/analytics/gamma_plot.py,
reused as it is). A section without data for the day shows "No data for <day>: <why>" instead of a picture.
The page holds no generation time and the PNGs no timestamp: the same marts give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipelines.analytics.gamma_plot import render_gamma_png
from pipelines.atomic_files import write_bytes_atomic
from pipelines.reporting import day_data
from pipelines.reporting.day_data import MINING_WINDOW_DAYS, PRICE_WINDOW_DAYS, Missing
from pipelines.reporting.headline import describe_level_events, headline_rows, usd, usd_millions
from pipelines.reporting.html_page import Section, no_data_note, render_page
from pipelines.reporting.market_note import build_note, render_html
from pipelines.reporting.mining_plots import render_hashprice_png, render_hashrate_png
from pipelines.reporting.price_plot import render_price_png

LEDE = (
    "What the warehouse's marts say about one UTC day: price and key levels, the leverage flush, miners under "
    "pressure and dealer gamma in the options market."
)


def report_path(out_dir: Path, day: dt.date) -> Path:
    return Path(out_dir) / f"{day.isoformat()}.html"


def price_section(conn: duckdb.DuckDBPyConnection, day: dt.date) -> Section:
    title = "Price, liquidations and level breaks"
    data = day_data.load_price_window(conn, day)
    if isinstance(data, Missing):
        return Section("price", title, note=no_data_note(day, data.reason))
    close = data.prices.column("close").to_pylist()[-1]
    today_liq = [r for r in data.liquidations.to_pylist() if r["date"] == day]
    liq = (f"longs {usd_millions(today_liq[0]['long_liquidated_usd'])}, "
           f"shorts {usd_millions(today_liq[0]['short_liquidated_usd'])} liquidated") if today_liq else \
        "no liquidation recorded"
    events = [f"{r['direction']} {r['level_usd']}" for r in data.level_events.to_pylist() if r["date"] == day]
    caption = (
        f"Consolidated BTC/USD close over the last {PRICE_WINDOW_DAYS} days with the daily low–high range, the "
        f"configured levels the close broke in the window (▼ closed below, ▲ closed above) and the USD "
        f"liquidated each day. {day}: close {usd(close)}; levels: {describe_level_events(', '.join(events))}; {liq}."
    )
    png = render_price_png(data.prices, data.liquidations, data.level_events, day)
    return Section("price", title, caption, png, alt=f"BTC price and liquidations up to {day}")


def hashrate_section(conn: duckdb.DuckDBPyConnection, day: dt.date) -> Section:
    title = "Hash rate against its 52-week peak"
    data = day_data.load_hashrate_window(conn, day)
    if isinstance(data, Missing):
        return Section("hashrate", title, note=no_data_note(day, data.reason))
    last = data.slice(data.num_rows - 1).to_pylist()[0]
    caption = (
        f"Network hash rate (mempool.space's daily estimate) and its 7-day average over the last "
        f"{MINING_WINDOW_DAYS} days, and how far that average is below its 52-week peak. {day}: "
        f"{last['hashrate_7d_avg_ehs']:,.1f} EH/s, {last['drawdown_from_peak_pct']:+.1f}% from the peak of "
        f"{last['peak_7d_avg_ehs']:,.1f} EH/s on {last['peak_date']}."
    )
    return Section("hashrate", title, caption, render_hashrate_png(data, day), alt=f"Hash rate up to {day}")


def hashprice_section(conn: duckdb.DuckDBPyConnection, day: dt.date) -> Section:
    title = "Hashprice"
    data = day_data.load_hashprice_window(conn, day)
    if isinstance(data, Missing):
        return Section("hashprice", title, note=no_data_note(day, data.reason))
    values = data.column("hashprice_usd_per_ph_day").to_pylist()
    first_day = data.column("date").to_pylist()[0]
    caption = (
        f"Miners' revenue (block subsidy + fees, valued at the day's close) per PH/s of the day's hash rate, "
        f"over the last {MINING_WINDOW_DAYS} days. {day}: {usd(values[-1], 2)} per PH/s per day, "
        f"{(values[-1] / values[0] - 1) * 100:+.1f}% since {first_day}."
    )
    return Section("hashprice", title, caption, render_hashprice_png(data, day), alt=f"Hashprice up to {day}")


def gamma_section(conn: duckdb.DuckDBPyConnection, day: dt.date) -> Section:
    title = "Dealer gamma exposure by strike"
    data = day_data.load_gamma_day(conn, day)
    if isinstance(data, Missing):
        return Section("gamma", title, note=no_data_note(day, data.reason))
    s = data.summary.to_pylist()[0]
    caption = (
        "Deribit BTC options: dealer GEX by strike (dealers long calls, short puts; USD per 1% move) with spot, "
        "the zero-gamma level and the call and put walls; below, the net GEX if spot moved to each level, "
        f"shaded where dealers are long (green) or short (red) gamma. {day}: spot {usd(s['spot_usd'])}, zero "
        f"gamma {usd(s['zero_gamma_usd'])}, total net GEX {usd_millions(s['total_net_gex_usd'])} per 1% move "
        f"({(s['regime'] or 'n/a').replace('_', ' ')})."
    )
    png = render_gamma_png(data.by_strike, data.profile, data.regime_bands, data.summary)
    return Section("gamma", title, caption, png, alt=f"Dealer gamma exposure on {day}")


SECTIONS = (price_section, hashrate_section, hashprice_section, gamma_section)


def note_section(conn: duckdb.DuckDBPyConnection, day: dt.date) -> Section:
    return Section("note", "Market note", html=render_html(build_note(conn, day)))


def report_sections(conn: duckdb.DuckDBPyConnection, day: dt.date) -> list[Section]:
    return [note_section(conn, day), *(section(conn, day) for section in SECTIONS)]


def report_html(conn: duckdb.DuckDBPyConnection, day: dt.date, sections: list[Section] | None = None, *,
                simulated: bool = False) -> str:
    head = day_data.load_headline(conn, day)
    rows, note = (None, no_data_note(day, head.reason)) if isinstance(head, Missing) else (headline_rows(head), None)
    return render_page(day, rows, note, sections if sections is not None else report_sections(conn, day), LEDE,
                       simulated)


def render_daily_report(
    conn: duckdb.DuckDBPyConnection, day: dt.date, out_dir: Path, sections: list[Section] | None = None, *,
    simulated: bool = False,
) -> Path:
    """Write `out_dir/<day>.html` (aside, then renamed: a browser never loads half a page) and return its path.
    `simulated`: the warehouse is the demo's (labelled on the page)."""
    path = report_path(out_dir, day)
    write_bytes_atomic(path, report_html(conn, day, sections, simulated=simulated).encode("utf-8"))
    return path
