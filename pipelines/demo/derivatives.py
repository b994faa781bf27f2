"""The demo perpetual-futures market: leveraged positions, open interest, funding, liquidations, account ratios.

Everything is driven by the MarketModel's price (its daily returns and the minute index path), through one
mechanism: cohorts of leveraged positions.

- Every day c opens a cohort of leveraged longs and one of leveraged shorts at that day's close. Their sizes (as
  fractions of a venue's open-interest scale) depend on momentum up to the day before: longs pile in after calm
  rises, shorts after falls (plus seeded noise). Positions are closed voluntarily with a half-life, and older
  cohorts fade out over a lookback window.
- Each position has a liquidation distance delta (the adverse move, as a fraction of its entry price, that wipes
  its margin: ~1/leverage). Across positions delta is log-logistic (median 6%, i.e. ~17x, steep: shape 5) plus a
  small 50-100x group. A long cohort opened at P keeps the share S(drop / (1 + w x age)) of its positions, where
  S(x) = P(delta > x), drop = 1 - price / P, and w widens the distance of survivors as they age (they add margin
  or cut size). Survival only decreases: every new worst point of the minute path liquidates the slice between
  the old and the new S. So liquidations rise steeply with the speed and depth of a fall AND with how much
  leverage was built at higher prices: a sharp fall after a calm rise cascades, a slow grind or the same fall
  after a flush does much less.
- Open interest = a hedged base (basis traders, market makers; not liquidatable) + surviving leveraged longs +
  shorts, times the venue's scale (BTC). It builds in calm rises and drops on cascade days.
- Funding (Binance's formula): premium index P from the long/short imbalance and the last 8 h's return, funding
  F = P + clamp(0.01% - P, -0.05%, +0.05%). Positive ~0.01% in uptrends, lower or negative after sharp falls.
- Liquidation events (OKX): the minute-by-minute liquidated BTC becomes Poisson arrivals with heavy-tailed
  (truncated Pareto) sizes, larger on average when more is liquidated (cascades reach bigger, less leveraged
  positions), at a bankruptcy price just beyond the minute's price.
- Account ratios (Binance): top traders' long share follows the leveraged imbalance; all accounts' ("retail")
  long share rises after falls (buying the dip) and with the drawdown from the 30-day high.
- Position ratio (Binance top traders, by size): the largest accounts lean with the imbalance less and fade the last
  three days' move (they add longs into a fall), so "whales" by size and by account count can disagree.
- Taker volume (Binance): each minute trades a base volume that grows with the size of the minute's move and of the
  day's, tilted
  toward buys in rising minutes and sells in falling ones, plus the minute's liquidations as forced taker orders
  (a liquidated long is a market sell), so cascade days are heavy sell days.
- Open interest on Binance, Bybit and OKX: the same positions at each venue's scale (BTC), valued in USD at the
  index price of the instant.

Scale: OKX's liquidation feed is ONE exchange's BTC-USDT swap, a fraction of market-wide liquidations (the
market totals that reports quote sum all exchanges and all coins). The demo's OKX open-interest scale (~28k BTC
in 2025, ~$3B) is OKX's BTC-USDT-SWAP share, so its cascade days reach a couple of hundred million USD, calm days
a few million; it is not, and must not be read as, the market total. Bybit's scale (~52k BTC in 2025) is its
BTCUSDT linear contract's.

All values are pure functions of (date, time): cohorts are recomputed from a bounded lookback (no recursion from
a fixed start), seeded per date through pipelines.demo.seeds, so a body never depends on cache order.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from pipelines.demo.market import DAY_S, MINUTES, MarketModel, day_start_s
from pipelines.demo.seeds import rng

MS_PER_MINUTE = 60_000
MS_PER_DAY = DAY_S * 1000
EPOCH = dt.date(1970, 1, 1)


def day_ms(day: dt.date) -> int:
    return day_start_s(day) * 1000


def date_of_ms(ms: int) -> dt.date:
    return EPOCH + dt.timedelta(days=ms // MS_PER_DAY)


@dataclass(frozen=True)
class DerivativesParams:
    seed_label: str = "demo-derivatives/v1"
    # leveraged cohorts (sizes as fractions of a venue's open-interest scale)
    lookback_days: int = 60
    taper_days: float = 6.0  # cohorts fade linearly to zero over the last days of the lookback
    hold_half_life_days: float = 6.0  # voluntary closing
    long_flow: float = 0.040  # new leveraged longs per day at zero momentum
    short_flow: float = 0.025
    flow_momentum: float = 0.45  # flow x exp(+-k z), z = momentum score up to the day before
    flow_noise_sd: float = 0.30
    momentum_half_life_days: float = 4.0
    momentum_window_days: int = 20
    hedged_base: float = 0.50
    # liquidation distance: log-logistic, S(x) = 1 / (1 + (x / median)^shape)
    liq_distance_median: float = 0.06
    liq_distance_shape: float = 5.0
    high_leverage_share: float = 0.03
    high_leverage_median: float = 0.015
    high_leverage_shape: float = 2.0
    margin_widening_per_day: float = 0.15  # a surviving cohort's liquidation distance x (1 + this x age in days)
    # open-interest scales (BTC) by date, interpolated in log between anchors (flat outside them)
    bybit_scale: tuple[tuple[dt.date, float], ...] = (
        (dt.date(2020, 3, 25), 600.0), (dt.date(2020, 12, 31), 9_000.0), (dt.date(2021, 11, 1), 28_000.0),
        (dt.date(2023, 1, 1), 36_000.0), (dt.date(2025, 1, 1), 52_000.0),
    )
    binance_scale: tuple[tuple[dt.date, float], ...] = (
        (dt.date(2019, 9, 10), 2_000.0), (dt.date(2020, 12, 31), 25_000.0), (dt.date(2021, 11, 1), 70_000.0),
        (dt.date(2023, 1, 1), 95_000.0), (dt.date(2025, 1, 1), 80_000.0),
    )
    okx_scale: tuple[tuple[dt.date, float], ...] = (
        (dt.date(2019, 12, 1), 3_000.0), (dt.date(2021, 6, 1), 14_000.0), (dt.date(2023, 1, 1), 20_000.0),
        (dt.date(2025, 1, 1), 28_000.0),
    )
    bybit_launch: dt.date = dt.date(2020, 3, 25)
    okx_first_day: dt.date = dt.date(2019, 12, 1)
    first_funding_day: dt.date = dt.date(2019, 9, 10)
    # liquidation events
    event_mean_btc: float = 0.35  # mean event size on a day liquidating `event_reference_btc`
    event_reference_btc: float = 30.0
    event_size_elasticity: float = 0.33  # mean size x (day total / reference)^elasticity
    event_pareto_alpha: float = 1.7
    event_max_btc: float = 250.0
    bankruptcy_offset: tuple[float, float] = (0.003, 0.009)  # bkPx this far beyond the minute's price
    loss_share_at_cascade: float = 0.15  # share of events with a bankruptcy loss in the busiest minutes
    # funding (Binance: F = P + clamp(I - P, -0.05%, 0.05%), capped)
    interest: float = 0.0001
    clamp: float = 0.0005
    funding_cap: float = 0.003
    premium_base: float = -0.00055
    premium_imbalance: float = 0.0009
    premium_return: float = 0.012
    premium_noise_sd: float = 0.00006
    # account ratios
    top_long_base: float = 0.50
    top_long_imbalance: float = 0.22
    retail_long_base: float = 0.55
    retail_long_drawdown: float = 0.75
    retail_long_return: float = 0.9
    ratio_noise_sd: float = 0.03
    # top traders' positions (Binance, by size)
    top_position_base: float = 0.50
    top_position_imbalance: float = 0.12
    top_position_return: float = -0.8
    # taker volume (Binance BTCUSDT perpetual): a quiet day trades this many times the venue's OI scale
    taker_volume_per_scale: float = 1.6
    taker_abs_move: float = 0.6  # a minute's base volume x (0.52 + this x |move| / its sd)
    taker_tilt: float = 0.12  # buy share 0.5 x (1 + tilt x tanh(move / sd))
    taker_day_move: float = 0.5  # a day's volume x (0.6 + this x |daily return| / daily vol): big days trade more
    forced_volume: float = 4.0  # taker BTC per liquidated BTC (the liquidation order and the stops it triggers)
    taker_noise_sd: float = 0.12


@dataclass
class DayState:
    """One day at minute resolution (index m = 0..1440 is the instant day 00:00 + m minutes)."""

    day: dt.date
    price: np.ndarray  # 1441 index prices
    longs: np.ndarray  # 1441 surviving leveraged longs (fraction of scale)
    shorts: np.ndarray  # 1441
    liq_long: np.ndarray  # 1440 longs liquidated in minute m (fraction of scale)
    liq_short: np.ndarray  # 1440


@dataclass
class LiquidationEvents:
    """A day's OKX liquidation details, ascending by ts (unique ms)."""

    ts: np.ndarray  # int64 ms
    sell: np.ndarray  # bool: True = sell order = a long was liquidated
    contracts: np.ndarray  # float, 2 decimals
    bk_px: np.ndarray  # float, 1 decimal
    loss: np.ndarray  # float USDT, 4 decimals (mostly 0)


def _power(x: np.ndarray, exponent: float) -> np.ndarray:
    """x ** exponent, by repeated multiplication when the exponent is a small whole number (much faster)."""
    if float(exponent).is_integer() and 1 <= exponent <= 16:
        result, base, k = None, x, int(exponent)
        while k:
            if k & 1:
                result = base if result is None else result * base
            k >>= 1
            if k:
                base = base * base
        return result
    return x**exponent


def _log_interp(anchors: tuple[tuple[dt.date, float], ...], x: np.ndarray) -> np.ndarray:
    xs = np.array([a[0].toordinal() for a in anchors], dtype=float)
    ys = np.log([a[1] for a in anchors])
    return np.exp(np.interp(x, xs, ys))


@dataclass
class DerivativesModel:
    market: MarketModel
    params: DerivativesParams = field(default_factory=DerivativesParams)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._extremes: dict[dt.date, tuple[float, float]] = {}
        self._flow_cache: dict[dt.date, tuple[float, float]] = {}
        self._days: OrderedDict[dt.date, DayState] = OrderedDict()
        self._events: OrderedDict[dt.date, LiquidationEvents] = OrderedDict()

    # ---- inputs from the price model ------------------------------------------------------------------
    def _path(self, day: dt.date) -> np.ndarray:
        # The index minute path (1441 log prices from the previous close to the day's close) that
        # MarketModel.index_at reads one minute at a time.
        return self.market._reference_path(day)

    def _low_high(self, day: dt.date) -> tuple[float, float]:
        got = self._extremes.get(day)
        if got is None:
            path = self._path(day)
            got = self._extremes[day] = (math.exp(float(path.min())), math.exp(float(path.max())))
        return got

    def _momentum(self, last: dt.date) -> float:
        """Momentum score up to `last`: EMA of daily log-returns over the regime's daily vol, clipped."""
        p = self.params
        n = p.momentum_window_days
        decay = 0.5 ** (1.0 / p.momentum_half_life_days)
        weights = decay ** np.arange(n)
        days = [last - dt.timedelta(days=k) for k in range(n)]
        rets = np.array([self.market.daily_return(d) for d in days])
        ema = float(weights @ rets / weights.sum())
        vol = self.market.regime(last).vol
        return float(np.clip(ema / vol * math.sqrt(weights.sum()), -2.5, 2.5))

    def _flows(self, day: dt.date) -> tuple[float, float]:
        """New leveraged longs and shorts opened during `day` (from momentum up to the day before)."""
        got = self._flow_cache.get(day)
        if got is None:
            got = self._flow_cache[day] = self._compute_flows(day)
        return got

    def _compute_flows(self, day: dt.date) -> tuple[float, float]:
        p = self.params
        z = self._momentum(day - dt.timedelta(days=1))
        e_long, e_short = rng(p.seed_label + "/flow", day).standard_normal(2)
        s = p.flow_noise_sd
        n_long = p.long_flow * math.exp(p.flow_momentum * z + s * e_long - 0.5 * s * s)
        n_short = p.short_flow * math.exp(-p.flow_momentum * z + s * e_short - 0.5 * s * s)
        return n_long, n_short

    # ---- the cohort state of a day ---------------------------------------------------------------------
    def day_state(self, day: dt.date) -> DayState:
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
            state = self._compute_day(day)
            self._days[day] = state
            if len(self._days) > 256:
                self._days.popitem(last=False)
            return state

    def _survival(self, move: np.ndarray) -> np.ndarray:
        """S(x) = share of positions whose liquidation distance exceeds x: a log-logistic bulk plus a small
        high-leverage (50-100x) group that ordinary intraday swings keep liquidating."""
        p = self.params
        x = np.maximum(move, 0.0)
        bulk = 1.0 / (1.0 + _power(x / p.liq_distance_median, p.liq_distance_shape))
        degen = 1.0 / (1.0 + _power(x / p.high_leverage_median, p.high_leverage_shape))
        return (1.0 - p.high_leverage_share) * bulk + p.high_leverage_share * degen

    def _compute_day(self, day: dt.date) -> DayState:
        p = self.params
        n = p.lookback_days
        cohort_days = [day - dt.timedelta(days=n - i) for i in range(n)]  # D-n .. D-1
        opens = self.market.closes(cohort_days[0], cohort_days[-1])  # each cohort's entry price
        flows = np.array([self._flows(c) for c in cohort_days])  # (n, 2)
        lows = np.array([self._low_high(c)[0] for c in cohort_days])
        highs = np.array([self._low_high(c)[1] for c in cohort_days])

        # Survival before `day`: the worst day since opening, each day's move measured against a liquidation
        # distance that widens with age (survivors add margin or cut size), so a fast fall liquidates more
        # than the same fall spread over days. Survival only ever decreases (a running minimum).
        age = np.arange(n)[None, :] - np.arange(n)[:, None]  # [cohort i, day j]: days since opening at j's end
        later = age > 0
        widen = 1.0 + p.margin_widening_per_day * np.maximum(age, 0)
        s_long = np.where(later, self._survival((1.0 - lows[None, :] / opens[:, None]) / widen), 1.0)
        s_short = np.where(later, self._survival((highs[None, :] / opens[:, None] - 1.0) / widen), 1.0)
        prev_long, prev_short = s_long.min(axis=1), s_short.min(axis=1)

        price = np.exp(self._path(day))
        age_now = (n - 1 - np.arange(n))[:, None] + np.arange(MINUTES + 1)[None, :] / MINUTES  # (n, 1441)
        widen_now = 1.0 + p.margin_widening_per_day * age_now
        survive_long = np.minimum(
            prev_long[:, None],
            np.minimum.accumulate(self._survival((1.0 - price[None, :] / opens[:, None]) / widen_now), axis=1),
        )
        survive_short = np.minimum(
            prev_short[:, None],
            np.minimum.accumulate(self._survival((price[None, :] / opens[:, None] - 1.0) / widen_now), axis=1),
        )

        weight = 0.5 ** (age_now / p.hold_half_life_days) * np.clip((n - age_now) / p.taper_days, 0.0, 1.0)
        pending_long, pending_short = self._flows(day)
        accrued = np.arange(MINUTES + 1) / MINUTES
        longs = (flows[:, 0:1] * weight * survive_long).sum(axis=0) + pending_long * accrued
        shorts = (flows[:, 1:2] * weight * survive_short).sum(axis=0) + pending_short * accrued
        liq_long = (flows[:, 0:1] * weight[:, 1:] * -np.diff(survive_long, axis=1)).sum(axis=0)
        liq_short = (flows[:, 1:2] * weight[:, 1:] * -np.diff(survive_short, axis=1)).sum(axis=0)
        return DayState(day, price, longs, shorts, liq_long, liq_short)

    # ---- scales ----------------------------------------------------------------------------------------
    def _scale(self, anchors, day: dt.date, minutes: np.ndarray | float) -> np.ndarray:
        return _log_interp(anchors, day.toordinal() + np.asarray(minutes, dtype=float) / MINUTES)

    # ---- open interest (Bybit BTCUSDT, BTC) ------------------------------------------------------------
    def open_interest_btc(self, ts_ms: int) -> float:
        """Bybit BTCUSDT open interest (BTC) at the instant `ts_ms` (minute resolution)."""
        day = date_of_ms(ts_ms)
        m = (ts_ms - day_ms(day)) // MS_PER_MINUTE
        s = self.day_state(day)
        index = self.params.hedged_base + s.longs[m] + s.shorts[m]
        return float(self._scale(self.params.bybit_scale, day, m) * index)

    def venue_open_interest(self, venue: str, ts_ms: int) -> tuple[float, float]:
        """(open interest in BTC, the index price) of `venue` (binance, bybit, okx) at `ts_ms`: its USD value is
        the two multiplied, once the BTC figure is rounded as the venue sends it (a body must not carry the last
        bits of a product, which differ with the CPU's vector paths)."""
        anchors = {"binance": self.params.binance_scale, "bybit": self.params.bybit_scale,
                   "okx": self.params.okx_scale}[venue]
        day = date_of_ms(ts_ms)
        m = (ts_ms - day_ms(day)) // MS_PER_MINUTE
        s = self.day_state(day)
        btc = float(self._scale(anchors, day, m) * (self.params.hedged_base + s.longs[m] + s.shorts[m]))
        return btc, float(s.price[m])

    # ---- taker volume (Binance BTCUSDT) ----------------------------------------------------------------
    def taker_minutes(self, day: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """Taker buy and sell volume (BTC) of each minute of `day` (1440 each)."""
        p = self.params
        s = self.day_state(day)
        move = np.diff(np.log(s.price))
        sd = self.market.regime(day).vol / math.sqrt(MINUTES) * self.market.params.intraday_vol_ratio
        z = move / sd
        scale = self._scale(p.binance_scale, day, np.arange(MINUTES) + 0.5)
        noise = math.exp(p.taker_noise_sd * float(rng(p.seed_label + "/taker", day).standard_normal())
                         - 0.5 * p.taker_noise_sd**2)
        day_move = 0.6 + p.taker_day_move * abs(self.market.daily_return(day)) / self.market.regime(day).vol
        base = scale * p.taker_volume_per_scale / MINUTES * (0.52 + p.taker_abs_move * np.abs(z)) * noise * day_move
        tilt = p.taker_tilt * np.tanh(z)
        buy = base * 0.5 * (1 + tilt) + p.forced_volume * s.liq_short * scale
        sell = base * 0.5 * (1 - tilt) + p.forced_volume * s.liq_long * scale
        return buy, sell

    def taker_volume(self, start_ms: int, end_ms: int) -> tuple[float, float]:
        """Taker (buy, sell) BTC traded in [start_ms, end_ms), whole minutes, summed in time order."""
        buy = sell = 0.0
        t = start_ms
        while t < end_ms:
            day = date_of_ms(t)
            lo = (t - day_ms(day)) // MS_PER_MINUTE
            hi = min(MINUTES, -(-(end_ms - day_ms(day)) // MS_PER_MINUTE))
            b, s = self.taker_minutes(day)
            buy += float(b[lo:hi].sum())
            sell += float(s[lo:hi].sum())
            t = day_ms(day) + MS_PER_DAY
        return buy, sell

    # ---- funding (Binance BTCUSDT) ---------------------------------------------------------------------
    def funding_print(self, day: dt.date, hour: int) -> tuple[int, float, float]:
        """The print at `day` `hour`:00 (hour in 0, 8, 16): (fundingTime ms with jitter, rate, mark price)."""
        p = self.params
        if hour == 0:
            window = self.day_state(day - dt.timedelta(days=1)), slice(960, MINUTES + 1)
        else:
            window = self.day_state(day), slice((hour - 8) * 60, hour * 60 + 1)
        state, span = window
        longs, shorts = state.longs[span], state.shorts[span]
        imbalance = float(np.mean((longs - shorts) / (longs + shorts + 1e-12)))
        prices = state.price[span]
        ret_8h = math.log(prices[-1] / prices[0])
        g = rng(p.seed_label + "/funding", day, str(hour))
        premium = (
            p.premium_base + p.premium_imbalance * imbalance + p.premium_return * ret_8h
            + p.premium_noise_sd * g.standard_normal()
        )
        rate = premium + min(max(p.interest - premium, -p.clamp), p.clamp)
        rate = round(min(max(rate, -p.funding_cap), p.funding_cap), 8)
        mark = float(prices[-1]) * (1.0 + premium)
        jitter = int(g.integers(0, 17))
        return day_ms(day) + hour * 3_600_000 + jitter, rate, mark

    # ---- account ratios (Binance BTCUSDT) --------------------------------------------------------------
    def long_account_shares(self, ts_ms: int) -> tuple[float, float]:
        """(top traders' long account share, all accounts' long account share) at `ts_ms`."""
        p = self.params
        day = date_of_ms(ts_ms)
        m = (ts_ms - day_ms(day)) // MS_PER_MINUTE
        s = self.day_state(day)
        price = float(s.price[m])
        imbalance = float((s.longs[m] - s.shorts[m]) / (s.longs[m] + s.shorts[m]))
        high_30 = max(float(self.market.closes(day - dt.timedelta(days=30), day - dt.timedelta(days=1)).max()), price)
        drawdown = 1.0 - price / high_30
        ret_3d = math.log(price / self.market.close(day - dt.timedelta(days=4)))
        top_noise, retail_noise = self._smooth_noise(day) + 0.004 * rng(
            p.seed_label + "/ratio-tick", day, str(m)
        ).standard_normal(2)
        top = p.top_long_base + p.top_long_imbalance * imbalance + top_noise
        retail = (
            p.retail_long_base + p.retail_long_drawdown * drawdown - p.retail_long_return * ret_3d + retail_noise
        )
        return float(np.clip(top, 0.30, 0.78)), float(np.clip(retail, 0.35, 0.82))

    def top_position_share(self, ts_ms: int) -> float:
        """Top traders' long share of POSITION size at `ts_ms`: with the leveraged imbalance, against the last
        three days' move (the largest accounts buy falls and sell rises), with its own slow noise."""
        p = self.params
        day = date_of_ms(ts_ms)
        m = (ts_ms - day_ms(day)) // MS_PER_MINUTE
        s = self.day_state(day)
        imbalance = float((s.longs[m] - s.shorts[m]) / (s.longs[m] + s.shorts[m]))
        ret_3d = math.log(float(s.price[m]) / self.market.close(day - dt.timedelta(days=4)))
        noise = self._smooth_noise(day, "/position")[0] + 0.003 * rng(
            p.seed_label + "/position-tick", day, str(m)).standard_normal()
        share = p.top_position_base + p.top_position_imbalance * imbalance + p.top_position_return * ret_3d + noise
        return float(np.clip(share, 0.30, 0.78))

    def _smooth_noise(self, day: dt.date, label: str = "/ratio") -> np.ndarray:
        """Two slowly drifting noises (AR(1), 0.85 per day, over two weeks of seeded shocks)."""
        k = np.arange(15)
        weights = 0.85**k * math.sqrt(1 - 0.85**2)
        shocks = np.array([rng(self.params.seed_label + label, day - dt.timedelta(days=int(i))).standard_normal(2)
                           for i in k])
        return self.params.ratio_noise_sd * (weights @ shocks)

    # ---- liquidation events (OKX BTC-USDT-SWAP) --------------------------------------------------------
    def liquidated_btc(self, day: dt.date) -> tuple[float, float]:
        """Expected OKX BTC-USDT-SWAP liquidations of `day` in BTC: (longs, shorts), before event noise."""
        s = self.day_state(day)
        scale = self._scale(self.params.okx_scale, day, np.arange(MINUTES) + 0.5)
        return float((s.liq_long * scale).sum()), float((s.liq_short * scale).sum())

    def liquidation_events(self, day: dt.date) -> LiquidationEvents:
        with self._lock:
            cached = self._events.get(day)
            if cached is not None:
                self._events.move_to_end(day)
                return cached
            events = self._compute_events(day)
            self._events[day] = events
            if len(self._events) > 64:
                self._events.popitem(last=False)
            return events

    def _compute_events(self, day: dt.date) -> LiquidationEvents:
        p = self.params
        s = self.day_state(day)
        g = rng(p.seed_label + "/liquidations", day)
        scale = self._scale(p.okx_scale, day, np.arange(MINUTES) + 0.5)
        parts = []
        for sell, per_minute in ((True, s.liq_long * scale), (False, s.liq_short * scale)):
            total = float(per_minute.sum())
            if total <= 0:
                continue
            mean = max(p.event_mean_btc * (total / p.event_reference_btc) ** p.event_size_elasticity, 0.02)
            count = int(g.poisson(total / mean))
            if count == 0:
                continue
            minute = g.choice(MINUTES, size=count, p=per_minute / total)
            a = p.event_pareto_alpha
            x_min = mean * (a - 1) / a
            size = np.minimum(x_min * (1.0 - g.random(count)) ** (-1.0 / a), p.event_max_btc)
            contracts = np.maximum(np.round(size / 0.01, 2), 0.01)  # ctVal 0.01 BTC, lot 0.01 contract
            offset_ms = g.integers(0, MS_PER_MINUTE, size=count)
            frac = offset_ms / MS_PER_MINUTE
            at = s.price[minute] * (1 - frac) + s.price[minute + 1] * frac
            off = g.uniform(*p.bankruptcy_offset, size=count)
            bk_px = np.round(at * (1 - off if sell else 1 + off), 1)
            busy = per_minute[minute] / max(float(per_minute.max()), 1e-12)
            has_loss = g.random(count) < p.loss_share_at_cascade * busy**2
            loss = np.where(has_loss, np.round(size * at * g.uniform(0, 0.003, size=count), 4), 0.0)
            ts = day_ms(day) + minute.astype(np.int64) * MS_PER_MINUTE + offset_ms
            parts.append((ts, np.full(count, sell), contracts, bk_px, loss))
        if not parts:
            empty = np.array([], dtype=np.int64)
            return LiquidationEvents(empty, np.array([], dtype=bool), np.array([]), np.array([]), np.array([]))
        ts, sell, contracts, bk_px, loss = (np.concatenate(col) for col in zip(*parts))
        order = np.argsort(ts, kind="stable")
        ts, sell, contracts, bk_px, loss = ts[order], sell[order], contracts[order], bk_px[order], loss[order]
        # one event per ms (keys stay unique): push a collision 1 ms later, within the day
        for i in range(1, len(ts)):
            if ts[i] <= ts[i - 1]:
                ts[i] = ts[i - 1] + 1
        ts = np.minimum(ts, day_ms(day) + MS_PER_DAY - 1)
        return LiquidationEvents(ts, sell, contracts, bk_px, loss)
