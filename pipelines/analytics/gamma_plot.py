"""The day's gamma picture: one snapshot day's tables in, PNG bytes out. Pure (no files, no Dagster, no DuckDB).

Top panel: GEX by strike as bars, calls up (green) and puts down (red), with the net per strike as a black tick;
bottom panel: the profile (net GEX if spot moved to each level) with the long-/short-gamma bands shaded.  Both
panels share the price axis (0.5x-1.5x spot, the profile's grid) and mark spot, the zero-gamma level and the
call and put walls.

Deterministic: a fixed style (matplotlib's defaults, whatever the local matplotlibrc says), figure size and dpi,
the Agg renderer, and no Software / date entry in the PNG, so the same tables give byte-identical files.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib
import matplotlib.style
import matplotlib.ticker
import numpy as np
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGSIZE_IN = (10.0, 7.5)
DPI = 100  # 1000 x 750 px, ~60-90 kB

CALL_COLOR, PUT_COLOR, NET_COLOR = "#2a9d8f", "#e76f51", "#1d1d1d"
SPOT_COLOR, ZERO_COLOR = "#264653", "#7b2cbf"
LONG_FILL, SHORT_FILL = "#2a9d8f", "#e76f51"


def _unit(max_abs: float) -> tuple[float, str]:
    for scale, name in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if max_abs >= scale:
            return scale, name
    return 1.0, ""


def _money(value: float | None) -> str:
    return "none" if value is None or not math.isfinite(value) else f"${value:,.0f}"


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(float)


def _mark_levels(ax, spot, zero_gamma, call_wall, put_wall, *, labels: bool) -> None:
    marks = (
        (spot, SPOT_COLOR, "-", "spot"),
        (zero_gamma, ZERO_COLOR, "--", "zero gamma"),
        (call_wall, CALL_COLOR, ":", "call wall"),
        (put_wall, PUT_COLOR, ":", "put wall"),
    )
    for value, color, style, name in marks:
        if value is not None and math.isfinite(value):
            ax.axvline(value, color=color, linestyle=style, linewidth=1.6, label=name if labels else None, zorder=3)


def render_gamma_png(by_strike: pa.Table, profile: pa.Table, regime_bands: pa.Table, summary: pa.Table) -> bytes:
    """PNG of one snapshot day from its rows of the by-strike, profile, regime-band and summary tables."""
    if summary.num_rows != 1:
        raise ValueError(f"expected one summary row (one snapshot day), got {summary.num_rows}")
    row = summary.to_pylist()[0]
    day, spot = row["snapshot_date"], row["spot_usd"]
    zero_gamma, call_wall, put_wall = row["zero_gamma_usd"], row["call_wall_usd"], row["put_wall_usd"]
    strikes, calls, puts, nets = (_col(by_strike, c) for c in ("strike", "call_gex_usd", "put_gex_usd", "net_gex_usd"))
    levels, prof = _col(profile, "price_level_usd"), _col(profile, "net_gex_usd")

    if levels.size:
        lo, hi = float(levels[0]), float(levels[-1])
    elif strikes.size:
        lo, hi = float(strikes.min()) * 0.95, float(strikes.max()) * 1.05
    else:
        lo, hi = 0.0, 1.0
    inside = (strikes >= lo) & (strikes <= hi)
    hidden = int((~inside).sum())

    # matplotlib's default style whatever the local matplotlibrc says (the style context leaves the backend alone)
    with matplotlib.style.context("default"), matplotlib.rc_context(
        rc={"font.size": 9.5, "axes.titlesize": 10.5, "axes.titleweight": "bold", "text.parse_math": False}
    ):
        fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        total = row["total_net_gex_usd"]
        fig.suptitle(
            f"Dealer gamma exposure, Deribit BTC options, {day}\n"
            f"spot {_money(spot)}   total net GEX {_money(total)} per 1% move ({row['regime'].replace('_', ' ')})\n"
            f"zero gamma {_money(zero_gamma)}   call wall {_money(call_wall)}   put wall {_money(put_wall)}",
            fontsize=10.5,
        )

        # --- top: bars by strike -------------------------------------------------------------------------
        k, c, p, n = strikes[inside], calls[inside], puts[inside], nets[inside]
        scale, unit = _unit(float(np.max(np.abs(np.concatenate((c, p, [0.0]))))))
        if k.size > 1:
            width = 0.8 * float(np.min(np.diff(k)))
        else:
            width = 0.01 * (spot if spot and math.isfinite(spot) else max(hi - lo, 1.0))
        top.bar(k, c / scale, width=width, color=CALL_COLOR, label="calls (dealers long)", zorder=2)
        top.bar(k, p / scale, width=width, color=PUT_COLOR, label="puts (dealers short)", zorder=2)
        top.scatter(k, n / scale, marker="_", s=90, linewidths=2.0, color=NET_COLOR, label="net", zorder=4)
        top.axhline(0.0, color="#888888", linewidth=0.8, zorder=1)
        _mark_levels(top, spot, zero_gamma, call_wall, put_wall, labels=True)
        top.set_title("GEX by strike (summed over expiries)", loc="left")
        top.set_ylabel(f"USD {unit} per 1% move".replace("  ", " "))
        top.grid(axis="y", alpha=0.3)
        top.legend(loc="upper right", fontsize=8, ncols=2, framealpha=0.9)
        if hidden:
            top.text(0.01, 0.97, f"{hidden} strike(s) outside the chart's range not shown", transform=top.transAxes,
                     fontsize=8, va="top", color="#555555")

        # --- bottom: the profile with its regime bands -----------------------------------------------------
        pscale, punit = _unit(float(np.max(np.abs(prof))) if prof.size else 0.0)
        for low, high, regime in zip(_col(regime_bands, "low_usd"), _col(regime_bands, "high_usd"),
                                     regime_bands.column("regime").to_pylist()):
            short = regime == "short_gamma"
            bottom.axvspan(low, high, color=SHORT_FILL if short else LONG_FILL, alpha=0.13, linewidth=0, zorder=0)
        if prof.size:
            bottom.plot(levels, prof / pscale, color=NET_COLOR, linewidth=1.8, zorder=4, label="net GEX at level")
        edges = _col(regime_bands, "low_usd")[1:]  # interior band edges are the zero-gamma crossings
        if edges.size:
            bottom.scatter(edges, np.zeros_like(edges), s=28, color=ZERO_COLOR, zorder=5, label="crossings")
        bottom.axhline(0.0, color="#888888", linewidth=0.8, zorder=1)
        _mark_levels(bottom, spot, zero_gamma, call_wall, put_wall, labels=False)
        bottom.set_title("Profile: total net GEX if spot moved to each level (shaded: green long gamma, red short)",
                         loc="left")
        bottom.set_ylabel(f"USD {punit} per 1% move".replace("  ", " "))
        bottom.set_xlabel("BTC price (USD)")
        bottom.grid(alpha=0.3)
        if prof.size:
            bottom.legend(loc="upper right", fontsize=8, framealpha=0.9)
        bottom.set_xlim(lo, hi)
        bottom.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))

        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown showing the PNG inline (a base64 data URI), for Dagster's MetadataValue.md."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
