"""The demo prediction market: "Will Bitcoin reach $100,000 in January 2026?" on Polymarket.

The YES price is a model, not a table. At a moment t the crowd prices the event "BTC trades at or above
the barrier at some minute of January 2026 (ET)" under a geometric Brownian motion started at the market
model's index S(t):

- volatility: the demo option chain's ATM implied volatility for the tenor to the end of January
  (`OptionChainModel.atm_iv`: realised vol of the weeks before t with a premium, toward a long-run level);
- drift: the crowd's own (physical) belief `crowd_drift_per_year`. With drift 0 the price would be the
  risk-neutral touch probability; the crowd in the demo is bearish (see the parameter's note);
- before January: P = E[touch(X_Jan1)] integrated over the law of log S at the window start, where
  touch(x) is the reflection-principle barrier-hit probability of a drifted Brownian motion over the
  window (1 when x is already above the barrier); inside January: touch(log S(t)) over the rest of the
  window, or 1 once the Binance BTCUSDT one-minute high reached the barrier (the resolution source);
- plus a small noise in logit space (a seeded Brownian bridge pinned at each midnight, so it is continuous
  and a function of the minute only), quoted on the order book's 0.01 tick: best bid, best ask one tick
  above, displayed price = their midpoint (what Gamma's outcomePrices and CLOB prices-history show).

Volume and liquidity accumulate from seeded daily draws that grow with BTC's daily move and with the
attention the market gets as January approaches. Everything is a function of the time asked about, never
of any later time: the same (moment) gives the same numbers in every process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import threading
from dataclasses import dataclass, field

import numpy as np

from pipelines.demo.market import DAY_S, MarketModel, day_of, day_start_s
from pipelines.demo.options import YEAR_DAYS, OptionChainModel
from pipelines.demo.seeds import rng, seed_int

UTC = dt.timezone.utc
MINUTE_S = 60
YEAR_S = YEAR_DAYS * DAY_S


@dataclass(frozen=True)
class DemoMarketIdentity:
    """The tracked demo market as Gamma and the CLOB name it (ids are fixed literals, like a real market's)."""

    market_id: str = "618354"
    slug: str = "will-bitcoin-reach-100000-in-january-2026"
    question: str = "Will Bitcoin reach $100,000 in January 2026?"
    condition_id: str = "0xee4db825a1998f65809aa16edded96ef2595f7466030e2b35febd951fbfc5002"
    question_id: str = "0xa5340a66bede7736bee46a168f1a6efedfcb342331870f621314542d8dde0f4f"
    yes_token_id: str = "39195742334499483057729855609084021656292709630205645153948116396721697398642"
    no_token_id: str = "79717035201316779781657950959038455272762003256265231555671419199914676735207"
    event_id: str = "41877"
    event_slug: str = "what-price-will-bitcoin-hit-in-january-2026"
    event_title: str = "What price will Bitcoin hit in January 2026?"
    group_item_title: str = "↑ 100,000"


DEMO_MARKET = DemoMarketIdentity()


@dataclass(frozen=True)
class PredictionParams:
    seed_label: str = "demo-polymarket/v1"
    barrier_usd: float = 100_000.0
    # "reach": YES when a Binance 1m high >= the barrier inside the window; "dip": when a 1m low <= it.
    direction: str = "reach"
    # "in January" in US Eastern time (UTC-5 in winter): Jan 1 00:00 ET .. Jan 31 23:59:59 ET.
    window_start: dt.datetime = dt.datetime(2026, 1, 1, 5)
    window_end: dt.datetime = dt.datetime(2026, 2, 1, 5)
    created: dt.datetime = dt.datetime(2025, 9, 2, 16, 12, 41, 377706)  # naive UTC
    trading_starts_after_s: int = 97  # startDate / acceptingOrdersTimestamp follow createdAt
    resolution_delay_s: int = 7_200  # the UMA proposal's liveness: closed this long after the outcome is known
    # The crowd's drift (log, per year). The one calibrated parameter of the belief, set so that the demo tells
    # the scenario's story (as the market model's regimes are): a crowd pricing the risk-neutral touch
    # probability (drift 0) would quote ~0.87 on 2025-10-01 (index ~$124k, 25% above the barrier) and ~0.44 on
    # 2025-11-21; the report's market sat near 0.60 and 0.25, i.e. a crowd expecting BTC to drift down.
    # With -0.7 the nightly Gamma snapshots read 0.675 (2025-10-01) and 0.215 (2025-11-21).
    crowd_drift_per_year: float = -0.7
    # quadrature over log S at the window start (trapezoid on a standard-normal grid; the integrand has a
    # kink at the barrier, so an evenly spaced grid is more robust than Gauss-Hermite nodes)
    quad_z_max: float = 7.0
    quad_points: int = 141
    # noise in logit space: a level pinned at each midnight, plus an intraday Brownian bridge
    noise_level_sd: float = 0.05
    noise_intraday_sd: float = 0.06
    tick: float = 0.01  # orderPriceMinTickSize
    # activity
    base_volume_usd: float = 18_000.0  # per day, when the market gets little attention
    volume_per_abs_return: float = 30.0  # daily volume x (1 + k |BTC daily log-return|)
    volume_noise_sd: float = 0.35
    attention_boost: float = 5.0  # up to x(1 + boost) as the window nears and inside it
    attention_days: float = 30.0
    base_liquidity_usd: float = 45_000.0


@dataclass(frozen=True)
class Quote:
    """The YES book at a minute: best bid and ask (tick grid) and the displayed (mid) price."""

    bid: float
    ask: float
    price: float


def _ndtr(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def touch_probability(log_s: np.ndarray, log_b: float, drift: float, vol: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """P(max over [0, tau] of log S >= log_b) for log S a Brownian motion with drift `drift - vol^2/2`.

    Reflection principle with drift nu: P = N((-d + nu tau)/s) + exp(2 nu d / vol^2) N((-d - nu tau)/s), with
    d = log_b - log_s >= 0 and s = vol sqrt(tau); 1 where d <= 0, and the indicator d <= 0 where tau = 0.
    """
    log_s, vol, tau = np.broadcast_arrays(np.asarray(log_s, float), np.asarray(vol, float), np.asarray(tau, float))
    d = log_b - log_s
    nu = drift - 0.5 * vol * vol
    safe_tau = np.maximum(tau, 1e-12)
    s = vol * np.sqrt(safe_tau)
    dd = np.maximum(d, 0.0)
    expo = np.clip(2.0 * nu * dd / (vol * vol), -700.0, 700.0)
    p = _ndtr((-dd + nu * safe_tau) / s) + np.exp(expo) * _ndtr((-dd - nu * safe_tau) / s)
    p = np.where(tau <= 0, 0.0, p)
    return np.clip(np.where(d <= 0, 1.0, p), 0.0, 1.0)


def _epoch_s(moment: dt.datetime) -> int:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(seconds=1)


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(seconds))


def iso_z(moment: dt.datetime, micros: bool = True) -> str:
    """Gamma's ISO format: 2026-03-11T09:29:01.328428Z (microseconds when it has them) or ...:00Z."""
    if micros and moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def market_description(p: PredictionParams) -> str:
    """The rules text of a price-hit market, as the real ladder's markets word it."""
    first = p.window_start - dt.timedelta(hours=5)  # ET (the demo ignores daylight saving: windows are months)
    last = p.window_end - dt.timedelta(hours=5, minutes=1)
    when = (f"between {first:%B} {first.day}, {first.year}, 00:00 AM ET and {last:%B} {last.day}, {last.year}, "
            "11:59 PM ET")
    field, verb = ("High", "or higher") if p.direction == "reach" else ("Low", "or lower")
    return (
        f'This market will immediately resolve to "Yes" if any Binance 1 minute candle for Bitcoin (BTCUSDT) '
        f'{when} has a final "{field}" price of {p.barrier_usd:,.0f} {verb}. Otherwise, this market will resolve '
        f'to "No".\n\nThe resolution source for this market is Binance, specifically the BTCUSDT "{field}" prices '
        f'available at https://www.binance.com/en/trade/BTC_USDT, with the chart settings on "1m" for one-minute '
        f"candles selected on the top bar."
    )


def gamma_number_text(value: float, decimals: int) -> str:
    """A market-level number as Gamma writes it: a decimal string without trailing zeros ("1198758.20317")."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass
class PredictionMarketModel:
    market: MarketModel
    options: OptionChainModel
    params: PredictionParams = field(default_factory=PredictionParams)
    identity: DemoMarketIdentity = DEMO_MARKET

    def __post_init__(self) -> None:
        p = self.params
        self._lock = threading.RLock()
        self._bridges: dict[dt.date, np.ndarray] = {}
        self._levels: dict[dt.date, float] = {}
        self._daily_volume: dict[dt.date, float] = {}
        self._touch: tuple[bool, int | None] | None = None
        z = np.linspace(-p.quad_z_max, p.quad_z_max, p.quad_points)
        w = np.exp(-0.5 * z * z)
        self._z, self._w = z, w / w.sum()
        self.created_s = _epoch_s(p.created)
        self.trading_start_s = self.created_s + p.trading_starts_after_s
        self.window_start_s = _epoch_s(p.window_start)
        self.window_end_s = _epoch_s(p.window_end)

    # ---- life cycle -----------------------------------------------------------------------------------
    def touch_time(self) -> int | None:
        """The first minute (unix s) in the window whose Binance BTCUSDT 1m high reached the barrier, or None.

        A property of the simulated path; callers only compare it with the moment they are asked about, so
        nothing after that moment leaks into an answer."""
        with self._lock:
            if self._touch is None:
                self._touch = (True, self._find_touch())
            return self._touch[1]

    def _find_touch(self) -> int | None:
        p = self.params
        barrier, start, end = p.barrier_usd, self.window_start_s, self.window_end_s
        late = end + DAY_S

        def reached(candle) -> bool:
            if candle is None:
                return False
            return candle.high >= barrier if p.direction == "reach" else candle.low <= barrier

        hour = start // 3600 * 3600
        while hour < end:  # hourly candles, then the minutes of the first hour that reached it
            if reached(self.market.candle("binance", hour, 3600, late)):
                for minute in range(max(hour, start), min(hour + 3600, end), MINUTE_S):
                    if reached(self.market.candle("binance", minute, MINUTE_S, late)):
                        return minute
            hour += 3600
        return None

    def outcome_known_at(self) -> tuple[int, bool]:
        """(unix s when the outcome became known, YES won?)."""
        touched = self.touch_time()
        return (touched, True) if touched is not None else (self.window_end_s, False)

    def resolved_at(self) -> int:
        return self.outcome_known_at()[0] + self.params.resolution_delay_s

    def is_listed(self, now_s: int) -> bool:
        return now_s >= self.created_s

    def is_closed(self, now_s: int) -> bool:
        return now_s >= self.resolved_at()

    # ---- fair probability -----------------------------------------------------------------------------
    def fair_probability(self, times_s: np.ndarray) -> np.ndarray:
        """The crowd's YES probability at each time (unix s, before the outcome is known)."""
        p = self.params
        times = np.asarray(times_s, dtype=np.int64)
        out = np.empty(len(times))
        # A dip is a reach of the mirrored process -log S (drift -nu, so the drift parameter becomes vol^2 - mu).
        sign = 1.0 if p.direction == "reach" else -1.0
        log_b = sign * math.log(p.barrier_usd)
        for day in sorted({day_of(int(t)) for t in times}):
            sel = np.array([day_of(int(t)) == day for t in times])
            ts = times[sel]
            spot = np.array([self.market.index_at(_utc(t).replace(tzinfo=UTC)) for t in ts])
            t1 = np.maximum(self.window_start_s - ts, 0) / YEAR_S
            t2 = np.maximum(self.window_end_s - ts, 0) / YEAR_S
            now_day = dt.datetime.combine(day, dt.time())
            vol = self.options.atm_iv(now_day, np.maximum(t2, 1.0 / 365.0))
            mu = p.crowd_drift_per_year if sign > 0 else vol * vol - p.crowd_drift_per_year
            nu = mu - 0.5 * vol * vol
            before = t1 > 0
            x = sign * np.log(spot)
            prob = touch_probability(x, log_b, mu, vol, t2)  # inside the window
            if before.any():
                tau = (t2 - t1)[before]
                v = vol[before]
                x1 = (x[before] + nu[before] * t1[before])[:, None] + (v * np.sqrt(t1[before]))[:, None] * self._z[
                    None, :
                ]
                m = mu[before] if np.ndim(mu) else mu
                hit = touch_probability(x1, log_b, m if np.ndim(m) == 0 else m[:, None], v[:, None], tau[:, None])
                prob[before] = hit @ self._w
            out[sel] = prob
        return out

    # ---- noise and quotes -----------------------------------------------------------------------------
    def _level(self, day: dt.date) -> float:
        got = self._levels.get(day)
        if got is None:
            got = self._levels[day] = float(
                rng(self.params.seed_label + "/level", day).standard_normal() * self.params.noise_level_sd
            )
        return got

    def _bridge(self, day: dt.date) -> np.ndarray:
        got = self._bridges.get(day)
        if got is None:
            g = rng(self.params.seed_label + "/intraday", day)
            steps = g.standard_normal(1440) * (self.params.noise_intraday_sd / math.sqrt(1440 / 4))
            walk = np.concatenate(([0.0], np.cumsum(steps)))
            t = np.arange(1441) / 1440
            got = self._bridges[day] = walk - t * walk[-1]
            if len(self._bridges) > 512:
                self._bridges.pop(next(iter(self._bridges)))
        return got

    def noise(self, times_s: np.ndarray) -> np.ndarray:
        with self._lock:
            out = np.empty(len(times_s))
            for i, t in enumerate(np.asarray(times_s, dtype=np.int64)):
                day = day_of(int(t))
                minute = (int(t) - day_start_s(day)) // MINUTE_S
                frac = minute / 1440
                level = (1 - frac) * self._level(day) + frac * self._level(day + dt.timedelta(days=1))
                out[i] = level + self._bridge(day)[minute]
            return out

    def quotes(self, times_s: np.ndarray) -> list[Quote]:
        """The YES book at each time (floored to the minute), for times the market traded at."""
        p = self.params
        times = np.asarray(times_s, dtype=np.int64) // MINUTE_S * MINUTE_S
        known_at, yes_won = self.outcome_known_at()
        fair = self.fair_probability(np.minimum(times, known_at - MINUTE_S))
        logit = np.log(np.clip(fair, 1e-6, 1 - 1e-6) / np.clip(1 - fair, 1e-6, 1))
        prob = 1.0 / (1.0 + np.exp(-(logit + self.noise(times))))
        out = []
        for t, q in zip(times, prob):
            if t >= known_at:  # the outcome is known: the book pins to it until the market closes
                bid, ask = (0.999, 1.0) if yes_won else (0.0, 0.001)
            else:
                bid = min(max(math.floor(q / p.tick) * p.tick, p.tick), 1 - 2 * p.tick)
                bid = round(bid, 2)
                ask = round(bid + p.tick, 2)
            out.append(Quote(bid=bid, ask=ask, price=round((bid + ask) / 2, 4)))
        return out

    def price(self, moment_s: int) -> float:
        return self.quotes(np.array([moment_s]))[0].price

    # ---- activity -------------------------------------------------------------------------------------
    def _attention(self, day: dt.date) -> float:
        p = self.params
        days_to_window = (p.window_start.date() - day).days
        return 1.0 + p.attention_boost * math.exp(-max(days_to_window, 0) / p.attention_days)

    def daily_volume(self, day: dt.date) -> float:
        """USD traded over the whole UTC `day` if the market traded all day (`cumulative_volume` cuts the ends)."""
        got = self._daily_volume.get(day)
        if got is None:
            p = self.params
            g = rng(p.seed_label + "/volume", day)
            r = abs(self.market.daily_return(day))
            shock = math.exp(p.volume_noise_sd * g.standard_normal() - 0.5 * p.volume_noise_sd**2)
            got = p.base_volume_usd * self._attention(day) * (1 + p.volume_per_abs_return * r) * shock
            self._daily_volume[day] = got
        return got

    def cumulative_volume(self, moment_s: int) -> float:
        """USD traded from listing to `moment_s` (trading spreads evenly over each day's open hours)."""
        start = self.trading_start_s
        end = min(moment_s, self.resolved_at())
        if end <= start:
            return 0.0
        total = 0.0
        day = day_of(start)
        while day_start_s(day) < end:
            lo = max(day_start_s(day), start)
            hi = min(day_start_s(day) + DAY_S, end)
            total += self.daily_volume(day) * (hi - lo) / DAY_S
            day += dt.timedelta(days=1)
        return total

    def liquidity(self, moment_s: int) -> float:
        p = self.params
        day = day_of(moment_s)
        z = rng(p.seed_label + "/liquidity", day).standard_normal()
        return p.base_liquidity_usd * math.sqrt(self._attention(day)) * math.exp(0.2 * z - 0.02)

    # ---- the Gamma market object ----------------------------------------------------------------------
    def gamma_market(self, now: dt.datetime) -> dict | None:
        """The Gamma /markets object at `now` (naive UTC), or None before the market was created."""
        p, ident = self.params, self.identity
        now_s = _epoch_s(now)
        if not self.is_listed(now_s):
            return None
        g = rng(p.seed_label + "/gamma", now.date(), now.isoformat())
        closed = self.is_closed(now_s)
        trading = now_s >= self.trading_start_s and not closed
        last_s = min(now_s, self.resolved_at() - 1)
        quote = self.quotes(np.array([max(last_s, self.created_s)]))[0]
        known_at, yes_won = self.outcome_known_at()
        if closed:
            prices = ["1", "0"] if yes_won else ["0", "1"]
        else:
            prices = [gamma_number_text(quote.price, 4), gamma_number_text(1 - quote.price, 4)]
        volume = round(self.cumulative_volume(now_s), 6)
        liquidity = None if closed else round(self.liquidity(now_s), 4)  # a resolved market has none (and no key)

        def window_volume(seconds: int) -> float:
            return round(volume - self.cumulative_volume(now_s - seconds), 6)

        created = p.created
        start = created + dt.timedelta(seconds=p.trading_starts_after_s)
        updated_s = max(self.created_s, min(now_s, self.resolved_at() if closed else now_s) - int(g.integers(5, 900)))
        updated = _utc(updated_s) + dt.timedelta(microseconds=int(g.integers(0, 1_000_000)))
        last_trade = quote.ask if g.random() < 0.5 else quote.bid
        description = market_description(p)
        market: dict[str, object] = {
            "id": ident.market_id,
            "question": ident.question,
            "conditionId": ident.condition_id,
            "slug": ident.slug,
            "resolutionSource": "https://www.binance.com/en/trade/BTC_USDT",
            "endDate": iso_z(p.window_end),
            **({} if liquidity is None else {"liquidity": gamma_number_text(liquidity, 4)}),
            "startDate": iso_z(start),
            "image": "https://polymarket-upload.s3.us-east-2.amazonaws.com/BTC+fullsize.png",
            "icon": "https://polymarket-upload.s3.us-east-2.amazonaws.com/BTC+fullsize.png",
            "description": description,
            "outcomes": json.dumps(["Yes", "No"]),
            "outcomePrices": json.dumps(prices),
            "volume": gamma_number_text(volume, 6),
            "active": True,
            "closed": closed,
            "marketMakerAddress": "",
            "createdAt": iso_z(created),
            "updatedAt": iso_z(updated),
        }
        if closed:
            market["closedTime"] = _utc(self.resolved_at()).strftime("%Y-%m-%d %H:%M:%S+00")
        market.update(
            {
                "new": False,
                "featured": False,
                "archived": False,
                "restricted": True,
                "groupItemTitle": ident.group_item_title,
                "groupItemThreshold": "5",
                "questionID": ident.question_id,
                "enableOrderBook": True,
                "orderPriceMinTickSize": p.tick,
                "orderMinSize": 5,
                "volumeNum": volume,
                **({} if liquidity is None else {"liquidityNum": liquidity}),
                "endDateIso": p.window_end.date().isoformat(),
                "startDateIso": start.date().isoformat(),
                "hasReviewedDates": True,
                "volume24hr": window_volume(DAY_S),
                "volume1wk": window_volume(7 * DAY_S),
                "volume1mo": window_volume(30 * DAY_S),
                "volume1yr": window_volume(365 * DAY_S),
                "clobTokenIds": json.dumps([ident.yes_token_id, ident.no_token_id]),
                "volume24hrClob": window_volume(DAY_S),
                "volume1wkClob": window_volume(7 * DAY_S),
                "volume1moClob": window_volume(30 * DAY_S),
                "volume1yrClob": window_volume(365 * DAY_S),
                "volumeClob": volume,
                **({} if liquidity is None else {"liquidityClob": liquidity}),
                "acceptingOrders": trading,
                "negRisk": False,
                "events": [self._gamma_event(now, volume, liquidity, closed)],
                "ready": False,
                "funded": False,
                "acceptingOrdersTimestamp": iso_z(start, micros=False),
                "cyom": False,
                "competitive": round(0.97 + 0.029 * float(rng(p.seed_label + "/competitive", now.date()).random()), 16),
                "pagerDutyNotificationEnabled": False,
                "approved": True,
                "rewardsMinSize": 50,
                "rewardsMaxSpread": 3.5,
                "spread": round(quote.ask - quote.bid, 3),
            }
        )
        for key, seconds in (
            ("oneHourPriceChange", 3600),
            ("oneDayPriceChange", DAY_S),
            ("oneWeekPriceChange", 7 * DAY_S),
            ("oneMonthPriceChange", 30 * DAY_S),
        ):
            if last_s - seconds >= self.trading_start_s:
                market[key] = round(quote.price - self.price(last_s - seconds), 4)
        market["lastTradePrice"] = last_trade
        if not closed:
            market["bestBid"] = quote.bid
            market["bestAsk"] = quote.ask
        market.update(
            {
                "automaticallyActive": True,
                "clearBookOnStart": True,
                "showGmpSeries": False,
                "showGmpOutcome": False,
                "manualActivation": False,
                "negRiskOther": False,
                "umaResolutionStatuses": json.dumps(["proposed", "resolved"] if closed else []),
                "pendingDeployment": False,
                "deploying": False,
                "rfqEnabled": False,
                "holdingRewardsEnabled": False,
                "feesEnabled": False,
                "requiresTranslation": False,
            }
        )
        if closed:
            market["umaResolutionStatus"] = "resolved"
            market["automaticallyResolved"] = True
        return market

    def _gamma_event(self, now: dt.datetime, volume: float, liquidity: float | None, closed: bool) -> dict:
        p, ident = self.params, self.identity
        created = p.created - dt.timedelta(seconds=2)
        # the event groups a ladder of strikes; this market is one of about eight, the most traded
        ladder_share = 2.6 + 0.2 * float(rng(p.seed_label + "/event", now.date()).random())
        return {
            "id": ident.event_id,
            "ticker": ident.event_slug,
            "slug": ident.event_slug,
            "title": ident.event_title,
            "resolutionSource": "https://www.binance.com/en/trade/BTC_USDT",
            "startDate": iso_z(created),
            "creationDate": iso_z(created),
            "endDate": iso_z(p.window_end),
            "image": "https://polymarket-upload.s3.us-east-2.amazonaws.com/BTC+fullsize.png",
            "icon": "https://polymarket-upload.s3.us-east-2.amazonaws.com/BTC+fullsize.png",
            "active": True,
            "closed": closed,
            "archived": False,
            "new": False,
            "featured": False,
            "restricted": True,
            "liquidity": round((liquidity or 0.0) * ladder_share, 4),
            "volume": round(volume * ladder_share, 6),
            "openInterest": 0,
            "createdAt": iso_z(created),
            "competitive": 0.9,
            "enableOrderBook": True,
            "negRisk": False,
            "commentCount": int(seed_int(p.seed_label + "/comments", now.date()) % 60),
        }

    # ---- CLOB prices-history --------------------------------------------------------------------------
    def history(self, token_id: str, start_s: int, end_s: int, fidelity_min: int, now_s: int) -> list[dict]:
        """Points {t, p} every `fidelity_min` minutes in [start_s, end_s] that had happened by `now_s`,
        while the market traded (from listing to its close)."""
        ident = self.identity
        if token_id not in (ident.yes_token_id, ident.no_token_id):
            return []
        step = fidelity_min * MINUTE_S
        lo = max(start_s, self.trading_start_s)
        hi = min(end_s, now_s, self.resolved_at() - 1)
        if hi < lo:
            return []
        first = -(-lo // step) * step
        times = np.arange(first, hi + 1, step, dtype=np.int64)
        if not len(times):
            return []
        quotes = self.quotes(times)
        is_yes = token_id == ident.yes_token_id
        return [
            {"t": int(t), "p": q.price if is_yes else round(1 - q.price, 4)} for t, q in zip(times, quotes)
        ]


# ---- the monthly ladders: "What price will Bitcoin hit in <Month> <Year>?" -------------------------------------

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
LADDER_SEED = "demo-polymarket/ladder/v1"
# A ladder lists on the 25th of the month before, 16:00 UTC (the real monthly events list in the last week of the
# month before), with rungs around the index then: reach rungs above it, dip rungs below, on a grid of 5 units of
# the price's second digit ($5,000 between $10k and $100k and above, $500 below $10k).
LADDER_REACH = (1.05, 1.15, 1.30)
LADDER_DIP = (0.95, 0.85, 0.70)
# January 2026 is the report's event: it listed early (2025-09-02), and its "↑ 100,000" market is the literal
# DEMO_MARKET (ids as a real market's), so the headline market of the demo story is one rung of the ladder.
EARLY_LISTINGS = {(2026, 1): DEMO_MARKET}


@dataclass(frozen=True)
class DemoEvent:
    """One month's ladder event: its ids and the markets (rungs) it groups."""

    year: int
    month: int
    event_id: str
    slug: str
    title: str
    created: dt.datetime  # naive UTC
    markets: tuple[PredictionMarketModel, ...]

    @property
    def window_end(self) -> dt.datetime:
        return self.markets[0].params.window_end


def month_window(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The month in US Eastern time as naive UTC (ET = UTC-5; the demo ignores daylight saving)."""
    nxt = (year + month // 12, month % 12 + 1)
    return dt.datetime(year, month, 1, 5), dt.datetime(nxt[0], nxt[1], 1, 5)


def event_slug(year: int, month: int) -> str:
    return f"what-price-will-bitcoin-hit-in-{MONTHS[month - 1]}-{year}"


def _digits(label: str, n: int) -> str:
    """A deterministic decimal id of n digits (no leading zero) from a label, like Polymarket's ids."""
    value = seed_int(LADDER_SEED, label) * seed_int(LADDER_SEED, label, "2")
    return str(10 ** (n - 1) + value % (9 * 10 ** (n - 1)))


def _hex64(label: str) -> str:
    return "0x" + format(seed_int(LADDER_SEED, label, "a"), "032x") + format(seed_int(LADDER_SEED, label, "b"), "032x")


def rung_identity(year: int, month: int, barrier: int, direction: str) -> DemoMarketIdentity:
    name = f"{MONTHS[month - 1]}-{year}"
    verb = "reach" if direction == "reach" else "dip-to"
    label = f"{year}-{month:02d}/{direction}/{barrier}"
    return DemoMarketIdentity(
        market_id=_digits(label + "/id", 6),
        slug=f"will-bitcoin-{verb}-{barrier}-in-{name}",
        question=f"Will Bitcoin {'reach' if direction == 'reach' else 'dip to'} ${barrier:,} in "
                 f"{MONTHS[month - 1].capitalize()} {year}?",
        condition_id=_hex64(label + "/condition"),
        question_id=_hex64(label + "/question"),
        yes_token_id=_digits(label + "/yes", 77),
        no_token_id=_digits(label + "/no", 77),
        event_id=_digits(f"{year}-{month:02d}/event", 5),
        event_slug=event_slug(year, month),
        event_title=f"What price will Bitcoin hit in {MONTHS[month - 1].capitalize()} {year}?",
        group_item_title=f"{'↑' if direction == 'reach' else '↓'} {barrier:,}",
    )


class PredictionCatalog:
    """Every demo event and market, listed month by month as the real monthly ladders are.

    Thresholds are chosen from the index when the event lists (never from later prices); each market is a
    PredictionMarketModel with its own seed, so bodies stay a pure function of (path, params, now)."""

    def __init__(self, market: MarketModel, options: OptionChainModel):
        self.market, self.options = market, options
        self._events: dict[tuple[int, int], DemoEvent] = {}
        self._lock = threading.RLock()

    def event(self, year: int, month: int) -> DemoEvent:
        with self._lock:
            got = self._events.get((year, month))
            if got is None:
                got = self._events[(year, month)] = self._build(year, month)
            return got

    def _build(self, year: int, month: int) -> DemoEvent:
        start, end = month_window(year, month)
        early = EARLY_LISTINGS.get((year, month))
        base = PredictionParams()
        created = base.created if early else (start - dt.timedelta(hours=5)).replace(day=1) - dt.timedelta(days=7)
        created = created if early else dt.datetime(created.year, created.month, 25, 16, 0)
        spot = self.market.index_at(created.replace(tzinfo=UTC))
        grid = 5 * 10 ** max(int(math.log10(spot)) - 1, 0) if spot < 100_000 else 5_000
        rungs: list[tuple[int, str]] = []
        for factor in LADDER_REACH:
            rungs.append((int(math.ceil(spot * factor / grid) * grid), "reach"))
        for factor in LADDER_DIP:
            rungs.append((int(math.floor(spot * factor / grid) * grid), "dip"))
        markets: list[PredictionMarketModel] = []
        if early is not None:
            markets.append(PredictionMarketModel(self.market, self.options))
        seen = {(int(m.params.barrier_usd), m.params.direction) for m in markets}
        for barrier, direction in dict.fromkeys(rungs):
            if (barrier, direction) in seen or barrier <= 0:
                continue
            ident = rung_identity(year, month, barrier, direction)
            if early is not None:
                ident = dataclasses.replace(ident, event_id=early.event_id)
            params = dataclasses.replace(
                base, seed_label=f"demo-polymarket/{year}-{month:02d}/{direction}/{barrier}",
                barrier_usd=float(barrier), direction=direction, window_start=start, window_end=end,
                created=created + dt.timedelta(seconds=2 + len(markets)),
            )
            markets.append(PredictionMarketModel(self.market, self.options, params, ident))
        ident = markets[0].identity
        return DemoEvent(year, month, ident.event_id, ident.event_slug, ident.event_title,
                         created, tuple(markets))

    def events_listed(self, now: dt.datetime, months_back: int = 24, months_ahead: int = 6) -> list[DemoEvent]:
        """The events created by `now`, around it (the demo does not list history before 2019)."""
        out = []
        y, m = now.year, now.month
        for k in range(-months_back, months_ahead + 1):
            idx = y * 12 + m - 1 + k
            year, month = divmod(idx, 12)
            if year < 2019:
                continue
            event = self.event(year, month + 1)
            if event.created <= now:
                out.append(event)
        return out

    def event_by_slug(self, slug: str) -> DemoEvent | None:
        for i, name in enumerate(MONTHS):
            prefix = f"what-price-will-bitcoin-hit-in-{name}-"
            if slug.startswith(prefix) and slug[len(prefix):].isdigit():
                year = int(slug[len(prefix):])
                return self.event(year, i + 1) if 2019 <= year <= 2100 else None
        return None

    def market_by_token(self, token_id: str, now: dt.datetime) -> PredictionMarketModel | None:
        """The market one of whose outcome tokens is `token_id`, among the events listed around `now`."""
        with self._lock:
            for events in (list(self._events.values()), self.events_listed(now)):
                for event in events:
                    for model in event.markets:
                        if token_id in (model.identity.yes_token_id, model.identity.no_token_id):
                            return model
        return None

    def market_by_slug(self, slug: str) -> PredictionMarketModel | None:
        """A rung's slug names its month: find the event, then the rung."""
        for i, name in enumerate(MONTHS):
            marker = f"-in-{name}-"
            if marker in slug:
                tail = slug.rsplit(marker, 1)[1]
                if tail.isdigit() and 2019 <= int(tail) <= 2100:
                    for model in self.event(int(tail), i + 1).markets:
                        if model.identity.slug == slug:
                            return model
        return None
