"""Draw a matplotlib figure into PNG bytes, the same bytes on every run.

The recipe of pipelines/analytics/gamma_plot.py (whose gamma picture the report reuses as it is): matplotlib's
default style whatever the local matplotlibrc says, a fixed size and dpi, the Agg renderer (no display), text
never parsed as mathtext (prices carry `$`), and no Software entry in the PNG. Matplotlib's PNG writer adds no
date, so the same data give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import matplotlib
import matplotlib.dates
import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
RC = {"font.size": 9.5, "axes.titlesize": 10.5, "axes.titleweight": "bold", "text.parse_math": False}

# One palette for the report's own plots (gamma_plot keeps its own, the same hues).
PRICE_COLOR, BAND_COLOR = "#264653", "#a8c5d6"
LONG_COLOR, SHORT_COLOR = "#e76f51", "#2a9d8f"  # liquidated longs (sold into the fall) red, shorts green
DOWN_COLOR, UP_COLOR = "#c1121f", "#2a9d8f"
DAY_COLOR = "#7b2cbf"
MUTED = "#555555"


def render_png(figsize_in: tuple[float, float], draw: Callable[[Figure], None]) -> bytes:
    """Call `draw(fig)` on a fresh figure and return its PNG; style and saving stay inside the same context
    because some rc settings are read when the figure is drawn, not when it is built."""
    with matplotlib.style.context("default"), matplotlib.rc_context(rc=RC):
        fig = Figure(figsize=figsize_in, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def date_axis(ax, first: dt.date, day: dt.date) -> None:
    """Day ticks on a short window (the start of the loaded history), Mondays on a longer one."""
    span = (day - first).days
    if span <= 21:
        locator = matplotlib.dates.DayLocator(interval=2)
    else:
        locator = matplotlib.dates.WeekdayLocator(byweekday=matplotlib.dates.MO, interval=1 if span <= 70 else 2)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%b %d"))
    ax.set_xlim(first - dt.timedelta(days=1), day + dt.timedelta(days=1))
