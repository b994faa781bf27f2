"""The demo Deribit option chains (BTC, and ETH on `pipelines.demo.ether`'s price) at a moment `now`: listed
expiries, strikes, smile, prices, open interest.

- Expiries at 08:00 UTC: the next few dailies, weekly Fridays, monthly last Fridays and quarterly (Mar/Jun/
  Sep/Dec) last Fridays. An expiry was listed when it first entered that set (e.g. a quarterly a year before).
- Strikes list like Deribit's: an expiry's strikes are set when it lists, from the price then, and strikes are
  added (never removed) as the price moves toward or past them: once a day, from the daily close, until the
  expiry expires. Near the prices the expiry has seen, fine steps (500 USD at today's prices, 125 when BTC was
  ~$9k), coarser further out, over a band that grows with the remaining tenor; a short remaining tenor adds finer
  strikes near the money. So a chain's instrument count changes gradually: series roll in and out, strikes are
  added. The strikes (and when each was added) at `now` depend on the closes before `now` only. Walked over
  every nightly snapshot 2020-01-01 .. 2026-12-01 (tests/test_demo_option_listings.py): no strike removed, 228 to
  1,218 instruments, each night within 0.68-1.78x each of the 14 nights before it (the raw volume band is
  0.5-2x their median). The grid used to switch with the price (878 instruments on 2023-03-10, 440 the next).
- Volatility: ATM IV = realised vol of the last weeks x a risk premium, decaying with tenor toward a long-run
  level; a smile with put skew in standardised moneyness. Forward = index x exp(basis x T).
- Open interest (in coins of the chain's currency) is accumulated from the simulated trading history: every past
  day since the listing adds new positions around the price of that day (calls slightly above it, protective
  puts further below, more puts after down days), weighted toward round strikes, and old positions decay (are
  closed) with a half-life. Gamma therefore clusters where the price has been, and the chain remembers a selloff.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from pipelines.demo.market import MarketModel
from pipelines.demo.seeds import rng

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
YEAR_DAYS = 365.0
FRIDAY = 4


@dataclass(frozen=True)
class OptionsParams:
    currency: str = "BTC"  # the underlying: instrument names, base/quote currency and the index (btc_usd)
    seed_label: str = "demo-options/v1"
    expiry_hour_utc: int = 8
    daily_expiries: int = 4
    weekly_expiries: int = 3
    monthly_expiries: int = 3
    quarterly_expiries: int = 4
    basis_per_year: float = 0.05  # futures basis (continuous, annualised): forward = index x exp(basis T)
    # implied volatility
    rv_window_days: int = 21
    vol_risk_premium: float = 1.08
    long_run_iv: float = 0.48
    term_decay_years: float = 0.25
    skew: float = 0.075  # IV change per unit of standardised moneyness ln(K/F)/(atm sqrt T), puts up
    smile: float = 0.035
    # strikes: each day's close lists strikes out to +- band_sigmas x band_vol x sqrt(remaining tenor), at least
    # +- band_floor. A fixed vol, not the day's IV: a listing band that breathed with IV would drop strikes.
    band_sigmas: float = 1.5
    band_vol: float = 0.5
    band_floor: float = 0.08
    # open interest
    oi_lookback_days: int = 120
    oi_half_life_days: float = 25.0
    flow_per_day: float = 2500.0  # new OI (coins) per expiry per day at peak popularity
    # Finest strike spacing (USD) by price level, highest level first: (from this price on, spacing). BTC: 500 at
    # today's prices, 125 when BTC was ~$9k. Each spacing divides the coarser ones.
    strike_units: tuple[tuple[float, int], ...] = ((60_000.0, 500), (25_000.0, 250), (0.0, 125))
    popularity_tenor_days: float = 40.0
    call_offset_sigmas: float = 0.0  # calls open around the day's price (in kernel widths)
    put_offset_sigmas: float = -2.0  # protective puts this many widths below it
    width_sigmas: float = 0.8
    put_share_base: float = 0.40
    put_share_per_return: float = 2.0  # after a -5% day the put share rises by 0.10
    # strikes that are multiples of (n x strike unit) attract more positions: with unit 500, 10000s and 5000s
    round_weights: tuple[tuple[int, float], ...] = ((20, 2.2), (10, 1.5), (2, 1.0), (1, 0.5))
    # quotes
    tick_small: float = 0.0001  # Deribit option tick below 0.005 BTC
    tick_large: float = 0.0005
    spread_fraction: float = 0.025


@dataclass(frozen=True)
class Expiry:
    date: dt.date
    kinds: frozenset[str]
    listed: dt.date

    @property
    def code(self) -> str:  # 7FEB25: day not zero-padded
        return f"{self.date.day}{MONTHS[self.date.month - 1]}{self.date.year % 100:02d}"

    def at(self, hour: int) -> dt.datetime:
        return dt.datetime(self.date.year, self.date.month, self.date.day, hour)


def _last_friday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - FRIDAY) % 7)


def _add_months(year: int, month: int, k: int) -> tuple[int, int]:
    m = month - 1 + k
    return year + m // 12, m % 12 + 1


def listed_expiries(now: dt.datetime, p: OptionsParams) -> list[Expiry]:
    """Expiries live at `now` (naive UTC), soonest first."""
    hour = p.expiry_hour_utc

    def alive(d: dt.date) -> bool:
        return dt.datetime(d.year, d.month, d.day, hour) > now

    kinds: dict[dt.date, set[str]] = {}
    today = now.date()
    dailies = [d for d in (today + dt.timedelta(days=i) for i in range(p.daily_expiries + 1)) if alive(d)]
    for d in dailies[: p.daily_expiries]:
        kinds.setdefault(d, set()).add("daily")
    friday = today + dt.timedelta(days=(FRIDAY - today.weekday()) % 7)
    fridays = [f for f in (friday + dt.timedelta(weeks=i) for i in range(p.weekly_expiries + 1)) if alive(f)]
    for f in fridays[: p.weekly_expiries]:
        kinds.setdefault(f, set()).add("weekly")
    months = [_last_friday(*_add_months(today.year, today.month, k)) for k in range(p.monthly_expiries + 1)]
    for m in [m for m in months if alive(m)][: p.monthly_expiries]:
        kinds.setdefault(m, set()).add("monthly")
    quarters = [_last_friday(*_add_months(today.year, today.month, k)) for k in range(0, 3 * p.quarterly_expiries + 3)]
    quarters = [q for q in quarters if q.month % 3 == 0 and alive(q)]
    for q in quarters[: p.quarterly_expiries]:
        kinds.setdefault(q, set()).add("quarterly")
    return [Expiry(d, frozenset(kinds[d]), listing_day(d, kinds[d], p)) for d in sorted(kinds)]


def listing_day(d: dt.date, kinds: set[str] | frozenset[str], p: OptionsParams) -> dt.date:
    """The day expiry `d` entered the listed set (at 08:00 UTC): when the series `n` before it of one of its kinds
    expired (`n` = how many of that kind are listed). A kind, once an expiry has it, stays until it expires, so the
    earliest of its kinds' entries is the expiry's listing."""
    entries = []
    if "daily" in kinds:
        entries.append(d - dt.timedelta(days=p.daily_expiries))
    if "weekly" in kinds:
        entries.append(d - dt.timedelta(weeks=p.weekly_expiries))
    if "monthly" in kinds:
        entries.append(_last_friday(*_add_months(d.year, d.month, -p.monthly_expiries)))
    if "quarterly" in kinds:
        entries.append(_last_friday(*_add_months(d.year, d.month, -3 * p.quarterly_expiries)))
    return min(entries)


def strike_units(prices: np.ndarray, p: OptionsParams) -> np.ndarray:
    """The finest strike spacing (USD) at each price level (`OptionsParams.strike_units`)."""
    out = np.full(len(prices), p.strike_units[-1][1], dtype=np.int64)
    for level, unit in reversed(p.strike_units[:-1]):
        out = np.where(prices >= level, unit, out)
    return out


# Strike steps by the remaining tenor when a close lists them: (tenor up to, days; ((log-distance from the prices
# the expiry has seen up to, step in strike units), ...)). With unit 500: dailies 500 / 1000 / 2000, up to ~40 days
# 1000 / 2000 / 10000, longer 2000 / 10000 / 20000. Every step divides every coarser one (1 | 2 | 4 | 20 | 40), so
# strikes added under different tiers still make an even ladder: the finest step wherever it reaches.
STRIKE_TIERS: tuple[tuple[float, tuple[tuple[float, int], ...]], ...] = (
    (8.0, ((0.04, 1), (0.12, 2), (math.inf, 4))),
    (40.0, ((0.07, 2), (0.20, 4), (math.inf, 20))),
    (math.inf, ((0.10, 4), (0.35, 20), (math.inf, 40))),
)


@dataclass(frozen=True)
class Listing:
    """An expiry's strikes listed at a moment, ascending, and when each was added (epoch ms, UTC)."""

    expiry: Expiry
    strikes: np.ndarray  # int64 USD
    created_ms: np.ndarray  # int64


def _epoch_ms(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def listed_strikes(expiry: Expiry, closes: np.ndarray, first: dt.date, p: OptionsParams) -> Listing:
    """The strikes of `expiry` listed once the daily closes `closes` (of `first`, the day before the listing or the
    market's first day, and the days after it) are known: at 00:00 UTC after the last of them.

    The listing (08:00 UTC of `expiry.listed`) lists strikes around the close before it; each later close (at
    00:00 UTC) adds the strikes its tier lists around it that are not listed yet. A strike is never removed, so
    what is listed at `now` is the union over those closes. Within one tenor tier and strike unit, that union is
    taken over the range of the closes (a jump lists every strike it crosses, as Deribit adds strikes while the
    price moves), so each added strike's time is where the running range first reaches it."""
    hour = p.expiry_hour_utc
    expiry_at = expiry.at(hour)
    n = len(closes)
    first_at = dt.datetime.combine(max(expiry.listed, first + dt.timedelta(days=1)), dt.time(hour))
    # close i (i >= 1) of day first + i is known at 00:00 UTC of the next day
    times_ms = _epoch_ms(dt.datetime.combine(first, dt.time())) + np.arange(1, n + 1, dtype=np.int64) * 86_400_000
    times_ms[0] = _epoch_ms(first_at)
    tenor = (_epoch_ms(expiry_at) - times_ms) / 86_400_000
    tier = np.searchsorted(np.array([t for t, _ in STRIKE_TIERS]), tenor, side="left")
    unit = strike_units(closes, p)
    half = np.maximum(p.band_floor, p.band_sigmas * p.band_vol * np.sqrt(np.maximum(tenor, 0.0) / YEAR_DAYS))
    strikes: list[np.ndarray] = []
    added: list[np.ndarray] = []
    for t, u in sorted(set(zip(tier.tolist(), unit.tolist()))):
        mine = (tier == t) & (unit == u)
        # running range of this group's closes, and of its band edges (-inf / inf before its first close)
        lo = np.minimum.accumulate(np.where(mine, closes, np.inf))
        hi = np.maximum.accumulate(np.where(mine, closes, -np.inf))
        band_lo = np.minimum.accumulate(np.where(mine, closes * np.exp(-half), np.inf))
        band_hi = np.maximum.accumulate(np.where(mine, closes * np.exp(half), -np.inf))
        for limit, multiple in STRIKE_TIERS[t][1]:
            step = multiple * u
            low = np.maximum(lo * math.exp(-limit), band_lo) if limit < math.inf else band_lo
            high = np.minimum(hi * math.exp(limit), band_hi) if limit < math.inf else band_hi
            ks = np.arange(math.ceil(low[-1] / step) * step, math.floor(high[-1] / step) * step + 1, step,
                           dtype=np.int64)
            if not len(ks):
                continue
            # low never rises and high never falls: the first close whose range reaches k added it
            reached = np.maximum(np.searchsorted(-low, -ks, side="left"), np.searchsorted(high, ks, side="left"))
            strikes.append(ks)
            added.append(times_ms[reached])
    if not strikes:
        return Listing(expiry, np.zeros(0, np.int64), np.zeros(0, np.int64))
    ks, ms = np.concatenate(strikes), np.concatenate(added)
    order = np.lexsort((ms, ks))
    ks, ms = ks[order], ms[order]
    keep = np.r_[True, ks[1:] != ks[:-1]]  # a strike listed by several tiers: its first time
    return Listing(expiry, ks[keep], ms[keep])


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2.0)))


def black76(forward: np.ndarray, strike: np.ndarray, t: np.ndarray, vol: np.ndarray, is_call: np.ndarray):
    """Undiscounted Black-76 price (USD) and delta for r = 0."""
    s = vol * np.sqrt(t)
    d1 = (np.log(forward / strike) + 0.5 * s * s) / s
    d2 = d1 - s
    nd1, nd2 = _norm_cdf(d1), _norm_cdf(d2)
    call = forward * nd1 - strike * nd2
    price = np.where(is_call, call, call - forward + strike)  # put-call parity
    delta = np.where(is_call, nd1, nd1 - 1.0)
    return np.maximum(price, 0.0), delta


@dataclass
class OptionChainModel:
    market: MarketModel
    params: OptionsParams = field(default_factory=OptionsParams)

    def atm_iv(self, now: dt.datetime, t_years: np.ndarray) -> np.ndarray:
        p = self.params
        day = now.date() - dt.timedelta(days=1)
        short = p.vol_risk_premium * self.market.realized_vol(day, p.rv_window_days)
        w = np.exp(-t_years / p.term_decay_years)
        return np.clip(p.long_run_iv + (short - p.long_run_iv) * w, 0.2, 2.0)

    def listing(self, now: dt.datetime) -> list[Listing]:
        """Every expiry listed at `now` (UTC; naive is UTC) with its strikes, soonest first: what get_instruments
        lists and the book summary quotes."""
        if now.tzinfo is not None:
            now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
        expiries = listed_expiries(now, self.params)
        if not expiries:
            return []
        first_day, last = self.market.params.first_day, now.date() - dt.timedelta(days=1)
        start = max(min(e.listed for e in expiries) - dt.timedelta(days=1), first_day)
        closes = self.market.closes(start, max(last, start))
        out = []
        for e in expiries:
            first = max(e.listed - dt.timedelta(days=1), first_day)
            i = (first - start).days
            out.append(listed_strikes(e, closes[i : max(i + 1, (last - start).days + 1)], first, self.params))
        return out

    def _open_interest(self, expiry: Expiry, strikes: np.ndarray, now: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
        """Call and put OI (coins) per strike, accumulated from the trading days before `now`'s day."""
        p = self.params
        first = max(expiry.listed, now.date() - dt.timedelta(days=p.oi_lookback_days), self.market.params.first_day)
        last = now.date() - dt.timedelta(days=1)
        if last < first:
            first = last  # listed today: positions opened yesterday on its predecessor's strikes
        n = (last - first).days + 1
        days = [first + dt.timedelta(days=i) for i in range(n)]
        price = self.market.closes(first, last)
        ret = np.array([self.market.daily_return(d) for d in days])
        vol_d = np.array([self.market.regime(d).vol for d in days])
        expiry_at = expiry.at(p.expiry_hour_utc)
        tenor = np.array([(expiry_at - dt.datetime(d.year, d.month, d.day, 12)).total_seconds() / 86400 for d in days])
        width = np.clip(vol_d * np.sqrt(np.maximum(tenor, 0.5)), 0.012, 0.25) * p.width_sigmas
        pop = np.exp(-np.maximum(tenor, 0.0) / p.popularity_tenor_days)
        if "quarterly" in expiry.kinds:
            pop = pop + 0.5
        elif "monthly" in expiry.kinds:
            pop = pop + 0.25
        age = np.array([(now.date() - d).days for d in days], dtype=float)
        flow = p.flow_per_day * pop * 0.5 ** (age / p.oi_half_life_days)
        put_share = np.clip(p.put_share_base - p.put_share_per_return * ret, 0.25, 0.75)

        x = np.log(strikes[None, :] / price[:, None]) / width[:, None]  # days x strikes, in widths
        # round numbers at each day's price level (its strike unit): a day's new positions do not move when
        # the price later crosses a unit threshold
        unit = strike_units(price, p)[:, None]
        round_w = np.full((n, len(strikes)), p.round_weights[-1][1])
        for multiple, weight in reversed(p.round_weights):
            round_w = np.where(strikes[None, :] % (multiple * unit) == 0, weight, round_w)
        calls = np.exp(-0.5 * ((x - p.call_offset_sigmas) / 1.0) ** 2) * round_w
        puts = np.exp(-0.5 * ((x - p.put_offset_sigmas) / 1.0) ** 2) * round_w
        calls /= np.maximum(calls.sum(axis=1, keepdims=True), 1e-300)
        puts /= np.maximum(puts.sum(axis=1, keepdims=True), 1e-300)
        call_oi = ((flow * (1 - put_share))[:, None] * calls).sum(axis=0)
        put_oi = ((flow * put_share)[:, None] * puts).sum(axis=0)
        return np.round(call_oi, 1), np.round(put_oi, 1)

    def chain(self, now: dt.datetime) -> list[dict]:
        """Book-summary rows (Deribit field names and units) for every listed option at `now` (UTC)."""
        p, m = self.params, self.market
        if now.tzinfo is not None:
            now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
        index = m.index_at(now)
        now_ms = int(round((now - dt.datetime(1970, 1, 1)).total_seconds() * 1000))
        g = rng(p.seed_label + "/book", now.date(), now.isoformat())
        rows: list[dict] = []
        for listing in self.listing(now):
            expiry, strikes = listing.expiry, listing.strikes
            t = (expiry.at(p.expiry_hour_utc) - now).total_seconds() / (YEAR_DAYS * 86400)
            forward = index * math.exp(p.basis_per_year * t)
            atm = float(self.atm_iv(now, np.array([t]))[0])
            call_oi, put_oi = self._open_interest(expiry, strikes, now)
            k = np.concatenate([strikes, strikes]).astype(float)
            is_call = np.concatenate([np.ones(len(strikes), bool), np.zeros(len(strikes), bool)])
            oi = np.concatenate([call_oi, put_oi])
            z = np.clip(np.log(k / forward) / (atm * math.sqrt(t)), -3.5, 3.5)
            iv = np.clip(atm * (1.0 - p.skew * z + p.smile * z * z), 0.6 * atm, 3.0)
            iv = np.round(iv * 100, 2) / 100  # Deribit publishes mark_iv with 2 decimals (percent)
            price_usd, delta = black76(np.full(len(k), forward), k, np.full(len(k), t), iv, is_call)
            mark = np.round(price_usd / forward, 8)
            cur = p.currency
            underlying = f"{cur}-{expiry.code}" if "quarterly" in expiry.kinds else f"SYN.{cur}-{expiry.code}"
            rows.extend(
                self._book_row(
                    g, f"{cur}-{expiry.code}-{int(k[i])}-{'C' if is_call[i] else 'P'}", float(mark[i]),
                    float(iv[i]), float(oi[i]), float(delta[i]), forward, index, underlying, now_ms,
                )
                for i in range(len(k))
            )
        order = g.permutation(len(rows))  # the API does not sort by name
        return [rows[i] for i in order]

    def _book_row(self, g, name, mark, iv, oi, delta, forward, index, underlying, now_ms) -> dict:
        p = self.params
        tick = p.tick_large if mark >= 0.005 else p.tick_small
        deep = abs(delta) < 0.02 or mark < 2 * p.tick_small
        u = g.random(6).tolist()
        half = max(tick, p.spread_fraction * mark * (1 + u[0]))
        bid = math.floor((mark - half) / tick) * tick
        ask = math.ceil((mark + half) / tick) * tick
        bid_price = round(bid, 4) if bid >= tick and not deep else None
        ask_price = None if deep and u[1] < 0.3 else round(max(ask, tick), 4)
        mid = round((bid_price + ask_price) / 2, 5) if bid_price is not None and ask_price is not None else None
        moneyness_activity = math.exp(-abs(math.log(max(abs(delta), 1e-6) / 0.5)))
        traded_today = oi > 0 and u[2] < 0.15 + 0.75 * moneyness_activity
        last = high = low = change = volume = volume_usd = None
        if oi > 0:
            last_trade = max(tick, round(mark * math.exp(0.08 * (u[3] - 0.5)) / tick) * tick)
            last = round(last_trade, 4)
            if traded_today:
                volume = round(max(0.1, oi * 0.08 * u[4] * (0.3 + moneyness_activity)), 1)
                volume_usd = round(volume * mark * index, 2)
                opened = max(tick, round(last_trade * math.exp(0.4 * (u[5] - 0.5)) / tick) * tick)
                high = round(max(last_trade, opened) * (1 + 0.05 * u[4]), 4)
                low = round(max(tick, min(last_trade, opened) * (1 - 0.05 * u[5])), 4)
                high = max(high, last)
                low = min(low, last)
                change = round((last_trade / opened - 1) * 100, 4)
        row = {
            "volume_usd": volume_usd,
            "volume": volume,
            "underlying_price": round(forward, 2),
            "underlying_index": underlying,
            "quote_currency": p.currency,
            "price_change": change,
            "open_interest": oi,
            "mid_price": mid,
            "mark_price": mark,
            "mark_iv": round(iv * 100, 2),
            "low": low,
            "last": last,
            "interest_rate": 0.0,
            "instrument_name": name,
            "high": high,
            "estimated_delivery_price": round(index, 2),
            "creation_timestamp": now_ms,
            "bid_price": bid_price,
            "base_currency": p.currency,
            "ask_price": ask_price,
        }
        return row
