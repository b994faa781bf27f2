"""The demo's Deribit volatility index (DVOL) of a currency: 100 × its option chain's 30-day ATM implied volatility,
with a small seeded intraday wiggle.

The chain's ATM IV at a moment depends on its day only (`OptionChainModel.atm_iv`: realised volatility up to the day
before × a premium, decaying with the tenor toward a long-run level), so the index's level on day D is 100 ×
atm_iv(D, 30 days). Within the day the index walks away from that level minute by minute, a random walk seeded by
(date, currency) starting at the level at 00:00 (`MINUTE_WIGGLE`: ~3% of the level over a day), so a daily candle
opens at the model's level and has a high, a low and a close of its own. Values carry 2 decimals, as Deribit's do.

A candle of `resolution` ms (1 s … 1 day; each divides a day, so a candle lies within one day) stamped `t` holds the
minutes of [t, t + resolution) reached by `now`: the candle trading at `now` is served as far as it has gone, a
candle starting after `now` is not served. Nothing is served before `DVOL_SINCE`, the first day Deribit serves.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pipelines.demo.market import DAY_S, MINUTES
from pipelines.demo.options import YEAR_DAYS, OptionChainModel
from pipelines.demo.seeds import rng
from pipelines.sources.deribit_dvol import DVOL_SINCE

TENOR_YEARS = 30 / YEAR_DAYS
MINUTE_WIGGLE = 0.0008  # sd of the index's log change a minute (× sqrt(1440): ~3% a day)
SEED_LABEL = "demo-dvol/v1"
MS_PER_MINUTE = 60_000
MS_PER_DAY = DAY_S * 1000
_EPOCH = dt.date(1970, 1, 1)


def dvol_level(chain: OptionChainModel, day: dt.date) -> float:
    """The index's level on `day` (percent): 100 × the chain's ATM implied volatility at a 30-day tenor."""
    now = dt.datetime.combine(day, dt.time())
    return 100.0 * float(chain.atm_iv(now, np.array([TENOR_YEARS]))[0])


def day_path(chain: OptionChainModel, day: dt.date) -> np.ndarray:
    """The index at each minute of `day` (percent, 2 decimals): minute 0 is the day's level."""
    steps = rng(SEED_LABEL, day, chain.params.currency).standard_normal(MINUTES) * MINUTE_WIGGLE
    steps[0] = 0.0
    return np.round(dvol_level(chain, day) * np.exp(np.cumsum(steps)), 2)


def dvol_candles(chain: OptionChainModel, start_ms: int, end_ms: int, resolution_ms: int, now_ms: int,
                 max_candles: int) -> tuple[list[list], int | None]:
    """The candles stamped in [start_ms, end_ms] (both included) that have started by `now_ms`, oldest first: the
    newest `max_candles` of them, and the continuation (the oldest candle served, to ask next as end_timestamp)
    when older ones were left out, else None."""
    first_ms = (DVOL_SINCE - _EPOCH).days * MS_PER_DAY
    lo = -(-max(start_ms, first_ms) // resolution_ms) * resolution_ms
    hi = min(end_ms, now_ms) // resolution_ms * resolution_ms
    if hi < lo:
        return [], None
    count = (hi - lo) // resolution_ms + 1
    oldest = hi - (min(count, max_candles) - 1) * resolution_ms
    paths: dict[dt.date, np.ndarray] = {}
    rows = []
    for stamp in range(oldest, hi + 1, resolution_ms):
        day = _EPOCH + dt.timedelta(days=stamp // MS_PER_DAY)
        if day not in paths:
            paths[day] = day_path(chain, day)
        day_ms = stamp - stamp % MS_PER_DAY
        first_minute = (stamp - day_ms) // MS_PER_MINUTE
        last_minute = (min(stamp + resolution_ms - 1, now_ms) - day_ms) // MS_PER_MINUTE
        values = paths[day][first_minute : last_minute + 1]
        rows.append([stamp, float(values[0]), float(values.max()), float(values.min()), float(values[-1])])
    return rows, (oldest if count > max_candles else None)
