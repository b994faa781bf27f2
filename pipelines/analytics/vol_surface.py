"""The implied-volatility surface of a day's option chain, per currency: what option traders quote beside gamma.

Per expiry (marts.fct_option_vol_surface), from the expiry's rows of marts.fct_option_chain_snapshot:

- **forward F** and **years to expiry T**: the medians of the expiry's `forward_usd` (Deribit's
  `underlying_price`, the forward its IVs are quoted on) and `time_to_expiry_years` (a chain is stamped over a
  few minutes; the median is the snapshot's);
- **the smile**: one IV per strike, the mean of the strike's finite, positive `mark_iv` (Deribit marks a call and
  its put with the same IV; the mean keeps a strike that only has one);
- **ATM IV**: the smile at K = F, linear in ln(K/F) between the two listed strikes around F (null when F is
  outside the listed strikes);
- **25-delta call and put IV**: each option's undiscounted Black-76 forward delta, N(d1) for a call and N(d1) - 1
  for a put, d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T), with its own IV, F and T. (Deribit's own `delta`
  for inverse options is premium-adjusted; the quoted 25-delta risk reversal uses the forward delta.) The 25-delta
  call IV is read on the out-of-the-money calls (K >= F) walked up in strike: linear in delta between the last
  strike with delta > 0.25 and the first with delta <= 0.25; the put side likewise on the puts with K <= F walked
  down, at delta -0.25. Null when the listed strikes do not reach the 25-delta point on that side;
- **25-delta risk reversal** RR = IV(25d call) - IV(25d put) (negative: puts richer, the usual crash skew) and
  **butterfly** BF = (IV(25d call) + IV(25d put)) / 2 - ATM IV (the smile's curvature). All in vol points, as
  Deribit quotes `mark_iv` (60.86 means 60.86%).

Per day and currency (marts.fct_option_vol_daily), the term structure at constant maturities: ATM IV at 7, 30 and
90 days, interpolated linearly in total variance (sigma^2 T) between the two expiries around the tenor (flat
extrapolation is refused: null outside the listed expiries), and the 30-day RR and BF, linear in T between the
same two expiries. Expiries closer than one day are left out of the term structure (a same-day expiry's IV
describes hours, not a tenor). `term_slope_30_90` = ATM(90d) - ATM(30d): positive is contango (calm), negative
is backwardation (stress priced near term). Deribit's DVOL is a 30-day implied volatility too
(marts.fct_dvol_daily): ATM(30d) sits near it, not on it (DVOL weights the whole smile, like the VIX).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtr

SURFACE_COLUMNS = (
    "currency", "expiry_date", "strike", "option_type", "mark_iv", "forward_usd", "time_to_expiry_years",
)
DELTA = 0.25
TENORS_DAYS = (7, 30, 90)
MIN_TERM_DAYS = 1.0  # expiries closer than this are left out of the constant-maturity term structure
YEAR_DAYS = 365.0

_F64 = pa.float64()
SURFACE_SCHEMA = pa.schema([
    ("snapshot_date", pa.date32()),
    ("currency", pa.string()),
    ("expiry_date", pa.date32()),
    ("days_to_expiry", _F64),
    ("forward_usd", _F64),
    ("strikes", pa.int32()),
    ("atm_iv", _F64),
    ("call_25d_iv", _F64),
    ("put_25d_iv", _F64),
    ("rr_25d", _F64),
    ("bf_25d", _F64),
])
DAILY_SCHEMA = pa.schema([
    ("snapshot_date", pa.date32()),
    ("currency", pa.string()),
    ("expiries", pa.int32()),
    ("atm_iv_7d", _F64),
    ("atm_iv_30d", _F64),
    ("atm_iv_90d", _F64),
    ("rr_25d_30d", _F64),
    ("bf_25d_30d", _F64),
    ("term_slope_30_90", _F64),
])


@dataclass(frozen=True)
class ExpirySmile:
    """One expiry's figures (IVs in vol points; None where the chain does not reach)."""

    expiry: dt.date
    years: float
    forward: float
    strikes: int
    atm_iv: float | None
    call_25d_iv: float | None
    put_25d_iv: float | None

    @property
    def rr_25d(self) -> float | None:
        if self.call_25d_iv is None or self.put_25d_iv is None:
            return None
        return self.call_25d_iv - self.put_25d_iv

    @property
    def bf_25d(self) -> float | None:
        if self.call_25d_iv is None or self.put_25d_iv is None or self.atm_iv is None:
            return None
        return (self.call_25d_iv + self.put_25d_iv) / 2.0 - self.atm_iv


def forward_delta(strike, years, is_call, iv_fraction, forward) -> np.ndarray:
    """Undiscounted Black-76 forward delta: N(d1) for calls, N(d1) - 1 for puts."""
    s = iv_fraction * np.sqrt(years)
    d1 = (np.log(forward / strike) + 0.5 * s * s) / s
    nd1 = ndtr(d1)
    return np.where(is_call, nd1, nd1 - 1.0)


def _interpolate(x: np.ndarray, y: np.ndarray, at: float) -> float | None:
    """y at x = `at`, linear between the first adjacent pair of points (in the given order) that brackets it."""
    for i in range(len(x) - 1):
        lo, hi = x[i], x[i + 1]
        if min(lo, hi) <= at <= max(lo, hi) and lo != hi:
            return float(y[i] + (y[i + 1] - y[i]) * (at - lo) / (hi - lo))
    return None


def expiry_smile(expiry: dt.date, strike, is_call, iv_pct, forward, years) -> ExpirySmile | None:
    """The figures of one expiry's rows (arrays of one expiry); None when no row is usable."""
    ok = np.isfinite(strike) & (strike > 0) & np.isfinite(iv_pct) & (iv_pct > 0) \
        & np.isfinite(forward) & (forward > 0) & np.isfinite(years) & (years > 0)
    if not ok.any():
        return None
    strike, is_call, iv_pct = strike[ok], is_call[ok], iv_pct[ok]
    f, t = float(np.median(forward[ok])), float(np.median(years[ok]))
    delta = forward_delta(strike, years[ok], is_call, iv_pct / 100.0, forward[ok])

    levels, inverse = np.unique(strike, return_inverse=True)
    smile = np.bincount(inverse, weights=iv_pct, minlength=len(levels)) / np.bincount(inverse, minlength=len(levels))
    atm = _interpolate(np.log(levels / f), smile, 0.0) if levels[0] <= f <= levels[-1] else None

    def wing(side: np.ndarray, target: float, descending: bool) -> float | None:
        order = np.argsort(strike[side], kind="stable")
        if descending:
            order = order[::-1]
        d, v = delta[side][order], iv_pct[side][order]
        return _interpolate(d, v, target)

    calls = is_call & (strike >= f)
    puts = ~is_call & (strike <= f)
    return ExpirySmile(expiry, t, f, int(len(levels)), atm, wing(calls, DELTA, False), wing(puts, -DELTA, True))


def day_smiles(chain: pa.Table) -> dict[str, list[ExpirySmile]]:
    """Every currency's expiries (soonest first) in one day's chain (columns SURFACE_COLUMNS)."""
    if chain.num_rows == 0:
        return {}
    currency = np.asarray(chain.column("currency").to_pylist(), dtype=object)
    expiry = chain.column("expiry_date").cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    strike = chain.column("strike").to_numpy(zero_copy_only=False).astype(float)
    is_call = pc.fill_null(pc.equal(chain.column("option_type"), "call"), False).to_numpy(zero_copy_only=False)
    iv = chain.column("mark_iv").to_numpy(zero_copy_only=False).astype(float)
    forward = chain.column("forward_usd").to_numpy(zero_copy_only=False).astype(float)
    years = chain.column("time_to_expiry_years").to_numpy(zero_copy_only=False).astype(float)
    out: dict[str, list[ExpirySmile]] = {}
    for cur in sorted({c for c in currency if c is not None}):
        mine = (currency == cur) & ~np.isnat(expiry)
        smiles = []
        for e in np.unique(expiry[mine]):
            rows = mine & (expiry == e)
            smile = expiry_smile(e.astype(dt.date), strike[rows], is_call[rows].astype(bool), iv[rows],
                                 forward[rows], years[rows])
            if smile is not None:
                smiles.append(smile)
        out[cur] = smiles
    return out


def constant_maturity(smiles: list[ExpirySmile], days: float) -> tuple[float | None, float | None, float | None]:
    """(ATM IV, RR, BF) at `days` to expiry from the two expiries around it (at least MIN_TERM_DAYS out)."""
    usable = [s for s in smiles if s.years * YEAR_DAYS >= MIN_TERM_DAYS and s.atm_iv is not None]
    target = days / YEAR_DAYS
    for near, far in zip(usable, usable[1:]):
        if near.years <= target <= far.years and far.years > near.years:
            w = (target - near.years) / (far.years - near.years)
            variance = (1 - w) * near.atm_iv ** 2 * near.years + w * far.atm_iv ** 2 * far.years
            atm = float(np.sqrt(variance / target)) if variance > 0 else None

            def linear(a: float | None, b: float | None) -> float | None:
                return None if a is None or b is None else (1 - w) * a + w * b

            return atm, linear(near.rr_25d, far.rr_25d), linear(near.bf_25d, far.bf_25d)
    return None, None, None


def vol_tables_for_day(day: dt.date, chain: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(surface rows, daily rows) of one day, schemas SURFACE_SCHEMA and DAILY_SCHEMA."""
    surface: dict[str, list] = {name: [] for name in SURFACE_SCHEMA.names}
    daily: dict[str, list] = {name: [] for name in DAILY_SCHEMA.names}
    for cur, smiles in day_smiles(chain).items():
        for s in smiles:
            for name, value in (("snapshot_date", day), ("currency", cur), ("expiry_date", s.expiry),
                                ("days_to_expiry", s.years * YEAR_DAYS), ("forward_usd", s.forward),
                                ("strikes", s.strikes), ("atm_iv", s.atm_iv), ("call_25d_iv", s.call_25d_iv),
                                ("put_25d_iv", s.put_25d_iv), ("rr_25d", s.rr_25d), ("bf_25d", s.bf_25d)):
                surface[name].append(value)
        atm = {d: constant_maturity(smiles, d) for d in TENORS_DAYS}
        slope = None if atm[30][0] is None or atm[90][0] is None else atm[90][0] - atm[30][0]
        for name, value in (("snapshot_date", day), ("currency", cur), ("expiries", len(smiles)),
                            ("atm_iv_7d", atm[7][0]), ("atm_iv_30d", atm[30][0]), ("atm_iv_90d", atm[90][0]),
                            ("rr_25d_30d", atm[30][1]), ("bf_25d_30d", atm[30][2]), ("term_slope_30_90", slope)):
            daily[name].append(value)
    return pa.table(surface, schema=SURFACE_SCHEMA), pa.table(daily, schema=DAILY_SCHEMA)
