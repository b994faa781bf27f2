"""Miners' pictures: the hash rate against its 52-week peak, and the hashprice. Pure: tables in, PNG bytes out."""

from __future__ import annotations

import datetime as dt

import matplotlib.ticker
import pyarrow as pa

from pipelines.reporting.png import BAND_COLOR, DAY_COLOR, DOWN_COLOR, MUTED, PRICE_COLOR, date_axis, render_png

HASHRATE_FIGSIZE_IN = (10.0, 5.5)
HASHPRICE_FIGSIZE_IN = (10.0, 3.6)


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def render_hashrate_png(hashrate: pa.Table, day: dt.date) -> bytes:
    """PNG of `hashrate` (date, hashrate_ehs, hashrate_7d_avg_ehs, peak_7d_avg_ehs, peak_date,
    drawdown_from_peak_pct), ordered by date and ending on `day`."""
    dates, daily, avg7 = (_col(hashrate, c) for c in ("date", "hashrate_ehs", "hashrate_7d_avg_ehs"))
    drawdown = _col(hashrate, "drawdown_from_peak_pct")
    last = hashrate.slice(hashrate.num_rows - 1).to_pylist()[0]

    def draw(fig):
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        fig.suptitle(f"Network hash rate, {dates[0]} … {day}", fontsize=11, fontweight="bold")
        top.plot(dates, daily, color=BAND_COLOR, linewidth=1.0, marker="o", markersize=2.5, label="daily estimate")
        top.plot(dates, avg7, color=PRICE_COLOR, linewidth=2.0, label="7-day average")
        top.axhline(last["peak_7d_avg_ehs"], color=DOWN_COLOR, linestyle=":", linewidth=1.2,
                    label=f"52-week peak of the 7-day average: {last['peak_7d_avg_ehs']:,.0f} EH/s "
                          f"({last['peak_date']})")
        if dates[0] <= last["peak_date"] <= day:
            top.scatter([last["peak_date"]], [last["peak_7d_avg_ehs"]], s=45, color=DOWN_COLOR, zorder=5)
        top.scatter([day], [last["hashrate_7d_avg_ehs"]], s=110, facecolors="none", edgecolors=DAY_COLOR,
                    linewidths=1.8, zorder=6)
        top.axvline(day, color=DAY_COLOR, linewidth=1.2, alpha=0.7)
        # The day's figures in the title: a label beside the last point collides with the lines.
        top.set_title(f"{day}: 7-day average {last['hashrate_7d_avg_ehs']:,.0f} EH/s "
                      f"(daily estimate {last['hashrate_ehs']:,.0f} EH/s)", loc="left")
        top.set_ylabel("EH/s")
        top.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        top.grid(alpha=0.3)
        top.legend(loc="lower left", fontsize=8, framealpha=0.9)

        bottom.fill_between(dates, drawdown, 0.0, color=DOWN_COLOR, alpha=0.25, linewidth=0)
        bottom.plot(dates, drawdown, color=DOWN_COLOR, linewidth=1.5)
        bottom.axhline(0.0, color="#888888", linewidth=0.8)
        bottom.axvline(day, color=DAY_COLOR, linewidth=1.2, alpha=0.7)
        bottom.scatter([day], [last["drawdown_from_peak_pct"]], s=110, facecolors="none", edgecolors=DAY_COLOR,
                       linewidths=1.8, zorder=6)
        bottom.set_title(f"7-day average against its 52-week peak: {last['drawdown_from_peak_pct']:+.1f}% on {day}",
                         loc="left")
        bottom.set_ylabel("% from peak")
        bottom.grid(alpha=0.3)
        date_axis(bottom, dates[0], day)

    return render_png(HASHRATE_FIGSIZE_IN, draw)


def render_hashprice_png(revenue: pa.Table, day: dt.date) -> bytes:
    """PNG of `revenue` (date, hashprice_usd_per_ph_day), ordered by date and ending on `day`."""
    dates, hashprice = _col(revenue, "date"), _col(revenue, "hashprice_usd_per_ph_day")

    def draw(fig):
        ax = fig.subplots()
        ax.set_title(f"Hashprice, {dates[0]} … {day}: ${hashprice[-1]:,.2f} per PH/s per day on {day}", loc="left")
        ax.plot(dates, hashprice, color=PRICE_COLOR, linewidth=1.6, marker="o", markersize=2.5)
        ax.axvline(day, color=DAY_COLOR, linewidth=1.2, alpha=0.7)
        ax.scatter([day], [hashprice[-1]], s=110, facecolors="none", edgecolors=DAY_COLOR, linewidths=1.8, zorder=6)
        ax.set_ylabel("USD per PH/s per day")
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        low, high = min(hashprice), max(hashprice)
        pad = max((high - low) * 0.15, abs(high) * 0.02, 0.5)
        ax.set_ylim(max(low - pad, 0.0), high + pad)
        ax.grid(alpha=0.3)
        ax.set_xlabel("miners' revenue (subsidy + fees) at the day's close, over the day's hash rate",
                      fontsize=8, color=MUTED)
        date_axis(ax, dates[0], day)

    return render_png(HASHPRICE_FIGSIZE_IN, draw)
