"""The demo ETH price: the BTC reference path times a seeded ETH/BTC ratio, for the demo's ETH option chain.

ETH's daily log-return is BTC's plus an independent ratio return (normal, `ratio_vol` a day, seeded per date), so
ETH moves with BTC (the selloff days are ETH's too) and a little more. The ratio is anchored at `anchor_ratio` on
`anchor_date` and walked both ways like the BTC closes, so any date has a price without simulating from a fixed
start; within a day the ratio moves linearly (in log) from the previous close's to the day's, on BTC's minute path.

`EtherMarket` answers the part of `MarketModel`'s interface the option chain reads (closes, daily returns, the
regime's volatility, realised volatility, the index at a moment), so `OptionChainModel(EtherMarket(btc),
ETH_OPTIONS)` is the ETH chain on the same code as the BTC one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from dataclasses import dataclass, field

import numpy as np

from pipelines.demo.market import MINUTES, MarketModel, Regime, anchored_walk, day_of, day_start_s, realized_vol
from pipelines.demo.options import OptionsParams
from pipelines.demo.seeds import rng


@dataclass(frozen=True)
class EtherParams:
    # The label picks one realisation: v208 was chosen (scanning v1-v299) as the one whose June ratios 2018-2025
    # stay closest to ETH/BTC's (within a factor ~1.75 each year).
    seed_label: str = "demo-ether/v208"
    anchor_date: dt.date = dt.date(2025, 9, 1)
    anchor_ratio: float = 0.0395  # ETH/BTC then: ~$4,300 against the BTC model's $109,000
    ratio_vol: float = 0.018  # daily sd of the ETH/BTC log-ratio's change


# The ETH chain: Deribit's ETH options share the BTC ones' expiry calendar and name format (ETH-27DEC24-3000-C);
# strikes on a finer USD grid (ETH trades ~1/25 of BTC's price) and more coins of open interest.
ETH_OPTIONS = OptionsParams(
    currency="ETH",
    seed_label="demo-options-eth/v1",
    flow_per_day=15_000.0,
    strike_units=((1_500.0, 25), (500.0, 10), (0.0, 5)),
)


@dataclass
class EtherMarket:
    btc: MarketModel
    ether: EtherParams = field(default_factory=EtherParams)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._lo = self._hi = self.ether.anchor_date
        self._log_ratio = np.array([math.log(self.ether.anchor_ratio)])

    @property
    def params(self):
        """The BTC market's parameters (first_day): ETH is simulated over the same days."""
        return self.btc.params

    def _ratio_return(self, day: dt.date) -> float:
        return float(self.ether.ratio_vol * rng(self.ether.seed_label + "/ratio", day).standard_normal())

    def _ensure(self, day: dt.date) -> None:
        """Extend the cached log-ratios to cover `day` (values never depend on the range cached)."""
        first = self.params.first_day - dt.timedelta(days=1)
        if day < first:
            raise ValueError(f"no demo market before {self.params.first_day}")
        with self._lock:
            if self._lo <= day <= self._hi:
                return
            lo = min(self._lo, max(first, day - dt.timedelta(days=90)))
            hi = max(self._hi, day + dt.timedelta(days=90))
            n = (hi - lo).days + 1
            steps = np.array([self._ratio_return(lo + dt.timedelta(days=i)) for i in range(n)])
            log_ratio = anchored_walk(steps, (self.ether.anchor_date - lo).days, math.log(self.ether.anchor_ratio))
            self._log_ratio, self._lo, self._hi = log_ratio, lo, hi

    def _ratios(self, first: dt.date, last: dt.date) -> np.ndarray:
        with self._lock:
            self._ensure(first)
            self._ensure(last)
            return self._log_ratio[(first - self._lo).days : (last - self._lo).days + 1].copy()

    def closes(self, first: dt.date, last: dt.date) -> np.ndarray:
        return self.btc.closes(first, last) * np.exp(self._ratios(first, last))

    def close(self, day: dt.date) -> float:
        return float(self.closes(day, day)[0])

    def daily_return(self, day: dt.date) -> float:
        return self.btc.daily_return(day) + self._ratio_return(day)

    def regime(self, day: dt.date) -> Regime:
        btc = self.btc.regime(day)
        return dataclasses.replace(btc, vol=math.hypot(btc.vol, self.ether.ratio_vol))

    def realized_vol(self, day: dt.date, window: int = 30) -> float:
        return realized_vol(self, day, window)

    def index_at(self, moment: dt.datetime) -> float:
        """The ETH index at `moment` (UTC; naive is UTC), at minute resolution."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        seconds = int(moment.timestamp())
        day = day_of(seconds)
        before, after = self._ratios(day - dt.timedelta(days=1), day)
        share = ((seconds - day_start_s(day)) // 60) / MINUTES
        return self.btc.index_at(moment) * math.exp(before + (after - before) * share)
