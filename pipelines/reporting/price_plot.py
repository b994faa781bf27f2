"""Price window picture: the consolidated close with its daily range, the configured levels broken in the window
(a marker on the day's close, the level as a dashed line), and below it the day's liquidations, longs up and
shorts down. Pure: tables in, PNG bytes out."""

from __future__ import annotations

import datetime as dt

import matplotlib.ticker
import pyarrow as pa

from pipelines.reporting.png import (
    BAND_COLOR,
    DAY_COLOR,
    DOWN_COLOR,
    LONG_COLOR,
    MUTED,
    PRICE_COLOR,
    SHORT_COLOR,
    UP_COLOR,
    date_axis,
    render_png,
)

FIGSIZE_IN = (10.0, 6.5)


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def _usd_k(level: float) -> str:
    return f"{level / 1000:,.0f}k" if level % 1000 == 0 else f"{level:,.0f}"


def render_price_png(prices: pa.Table, liquidations: pa.Table, level_events: pa.Table, day: dt.date) -> bytes:
    """PNG of the window of `prices` (date, low, high, close), `liquidations` (date, long_liquidated_usd,
    short_liquidated_usd) and `level_events` (date, level_usd, direction, close) ending on `day`."""
    dates, lows, highs, closes = (_col(prices, c) for c in ("date", "low", "high", "close"))

    def draw(fig):
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        fig.suptitle(f"BTC/USD consolidated close and liquidations, {dates[0]} … {day}", fontsize=11,
                     fontweight="bold")

        # --- top: price, range, levels and their breaks --------------------------------------------------
        top.fill_between(dates, lows, highs, color=BAND_COLOR, alpha=0.55, linewidth=0, label="daily low–high")
        top.plot(dates, closes, color=PRICE_COLOR, linewidth=1.8, label="close", zorder=3)
        levels = sorted(set(_col(level_events, "level_usd")), reverse=True)
        for level in levels:
            top.axhline(level, color=MUTED, linestyle="--", linewidth=0.9, zorder=1)
            top.annotate(f"{_usd_k(level)} level", xy=(0.0, level), xycoords=("axes fraction", "data"),
                         xytext=(4, 3), textcoords="offset points", fontsize=8, color=MUTED)
        for direction, marker, color, name in (("break_down", "v", DOWN_COLOR, "closed below a level"),
                                               ("break_up", "^", UP_COLOR, "closed above a level")):
            rows = [r for r in level_events.to_pylist() if r["direction"] == direction]
            if rows:
                top.scatter([r["date"] for r in rows], [r["close"] for r in rows], marker=marker, s=70,
                            color=color, edgecolors="white", linewidths=0.8, zorder=5, label=name)
        top.axvline(day, color=DAY_COLOR, linewidth=1.2, alpha=0.7, zorder=2)
        # A ring, so the day's own break marker stays visible inside it.
        top.scatter([day], [closes[-1]], s=160, facecolors="none", edgecolors=DAY_COLOR, linewidths=1.8, zorder=6)
        # The day's figures go in the panel title: a label beside the last point collides with the line.
        top.set_title(f"{day}: close ${closes[-1]:,.0f}, range ${lows[-1]:,.0f} – ${highs[-1]:,.0f}", loc="left")
        top.set_ylabel("USD")
        top.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        top.grid(alpha=0.3)
        top.legend(loc="best", fontsize=8, framealpha=0.9)

        # --- bottom: liquidations, longs up and shorts down ---------------------------------------------
        liq_dates = _col(liquidations, "date")
        longs = [v / 1e6 for v in _col(liquidations, "long_liquidated_usd")]
        shorts = [-v / 1e6 for v in _col(liquidations, "short_liquidated_usd")]
        if liq_dates:
            bottom.bar(liq_dates, longs, width=0.8, color=LONG_COLOR)
            bottom.bar(liq_dates, shorts, width=0.8, color=SHORT_COLOR)
        else:
            bottom.text(0.5, 0.5, "no liquidations recorded in this window", transform=bottom.transAxes,
                        ha="center", va="center", color=MUTED)
        bottom.axhline(0.0, color="#888888", linewidth=0.8)
        bottom.axvline(day, color=DAY_COLOR, linewidth=1.2, alpha=0.7)
        # The colours are named in the title: a legend box would hide the tallest bars, wherever it goes.
        bottom.set_title("Liquidations per day, all exchanges covered: longs (red) up, shorts (green) down",
                         loc="left")
        bottom.set_ylabel("USD m")
        bottom.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{abs(v):,.0f}"))
        bottom.grid(axis="y", alpha=0.3)
        date_axis(bottom, dates[0], day)

    return render_png(FIGSIZE_IN, draw)
