"""The day's headline numbers (one row of marts.mart_market_daily) as (label, text) pairs. Pure formatting."""

from __future__ import annotations

import math
import re

_LEVEL_EVENT = re.compile(r"^(break_down|break_up) (\d+)$")


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def usd(value, decimals: int = 0) -> str:
    return f"${value:,.{decimals}f}" if _ok(value) else "n/a"


def usd_millions(value) -> str:
    return f"${value / 1e6:,.1f}M" if _ok(value) else "n/a"


def pct(value, decimals: int = 1, signed: bool = True) -> str:
    if not _ok(value):
        return "n/a"
    return f"{value:+.{decimals}f}%" if signed else f"{value:.{decimals}f}%"


def describe_level_events(text: str | None) -> str:
    """'break_down 92000, break_up 88000' → 'closed below $92,000; closed above $88,000'; anything else as is."""
    if not text:
        return "none"
    parts = []
    for event in text.split(", "):
        match = _LEVEL_EVENT.match(event.strip())
        if match:
            where = "below" if match[1] == "break_down" else "above"
            parts.append(f"closed {where} ${int(match[2]):,}")
        else:
            parts.append(event)
    return "; ".join(parts)


def headline_rows(row: dict) -> list[tuple[str, str]]:
    """Label and text of each headline figure of a mart_market_daily row (columns of day_data.HEADLINE_COLUMNS)."""
    longs, shorts, total = row["long_liquidated_usd"], row["short_liquidated_usd"], row["total_liquidated_usd"]
    long_share = f", {longs / total * 100:.0f}% longs" if _ok(longs) and _ok(total) and total > 0 else ""
    oi = row["open_interest_btc"]
    funding = row["funding_rate_daily"]
    yes = row["yes_probability"]
    regime = (row["gamma_regime"] or "n/a").replace("_", " ")
    return [
        ("BTC close (consolidated)", f"{usd(row['close'])} (range {usd(row['low'])} – {usd(row['high'])})"),
        ("Configured levels crossed", describe_level_events(row["level_events"])),
        ("Liquidations", f"longs {usd_millions(longs)}, shorts {usd_millions(shorts)} "
                         f"(total {usd_millions(total)}{long_share})"),
        ("Funding (Binance, day's sum)", pct(funding * 100 if _ok(funding) else None, 4)),
        ("Open interest (Bybit)", f"{oi:,.0f} BTC ({pct(row['open_interest_change_pct'], 2)} on the day)"
         if _ok(oi) else "n/a"),
        ("Hash rate, 7-day average", (f"{row['hashrate_7d_avg_ehs']:,.1f} EH/s" if _ok(row["hashrate_7d_avg_ehs"])
                                      else "n/a")
         + f", {pct(row['hashrate_drawdown_from_peak_pct'])} from its peak of {row['hashrate_peak_date'] or 'n/a'}"),
        ("Hashprice", f"{usd(row['hashprice_usd_per_ph_day'], 2)} per PH/s per day"),
        ("Prediction market, YES", pct(yes * 100 if _ok(yes) else None, signed=False)),
        ("Dealer gamma, total net GEX", f"{usd_millions(row['total_net_gex_usd'])} per 1% move ({regime})"),
        ("Zero-gamma level", usd(row["zero_gamma_usd"])),
        ("Call wall / put wall", f"{usd(row['call_wall_usd'])} / {usd(row['put_wall_usd'])}"),
    ]
