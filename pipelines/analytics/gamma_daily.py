"""One snapshot day of the option chain → the five gamma tables' rows. Pure: arrays in, pyarrow tables out.

Tables (one snapshot day and currency each, BTC or ETH; the asset concatenates them and replaces the run's window):

* by strike            (snapshot_date, currency, strike): call, put and net GEX summed over expiries, and OI;
* by expiry and strike (snapshot_date, currency, expiry_date, strike): the same before summing over expiries;
* profile              (snapshot_date, currency, price_level_usd): net GEX if spot were at that level (PROFILE_*);
* regime bands         (snapshot_date, currency, low_usd): the ranges of that grid where dealers are long / short;
* summary              (snapshot_date, currency): spot, total, zero gamma, walls, regime, concentration, rows used,
                         the total with and without same-day expiries;
* level bands          (snapshot_date, currency, level_usd): net and gross GEX of the strikes within +/- a percentage
                         of a level (spot, zero gamma, the configured price levels, round numbers near spot);
* downside             (snapshot_date, currency): the short-gamma band below the flip, its acceleration zone and a
                         downside target range (rules at downside_rows);
* flip events          (snapshot_date, currency, event): spot crossed the flip; the flip moved (flip_events, from the
                         summaries of consecutive days).

Every row records the assumptions it was computed under (Assumptions: the dealer convention and the near-expiry
policy, from pipelines/settings.py).

Every GEX figure is USD per 1% move of the currency's own spot (../shared/docs/gamma.md; an option on one ETH is
priced like an option on one BTC, in USD); open interest is in coins of the currency. Rows the library cannot price
are left out of every table and counted in the summary's rows_excluded.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.analytics import gamma

# Band for "gamma concentrated near spot" (scenario.md question 6).
NEAR_SPOT_BAND_PCT = 2.0

# Profile grid: spot x k / PROFILE_STEPS_PER_SPOT for k = PROFILE_LO_STEPS .. PROFILE_HI_STEPS, i.e. 401 levels
# from 0.5x to 1.5x spot in steps of 0.25% of spot (about $225 at $90k), with spot itself exactly on the grid
# (k = 400), plus every exact zero-gamma crossing in that range.  The regime bands tile the same range.
PROFILE_STEPS_PER_SPOT = 400
PROFILE_LO_STEPS, PROFILE_HI_STEPS = 200, 600
PROFILE_LO, PROFILE_HI = PROFILE_LO_STEPS / PROFILE_STEPS_PER_SPOT, PROFILE_HI_STEPS / PROFILE_STEPS_PER_SPOT

LONG_GAMMA, SHORT_GAMMA = "long_gamma", "short_gamma"

# A same-day expiry: the row expires within one day (24 hours) of its own timestamp, 0 < T <= 1/365. Deribit's
# daily options expire at 08:00 UTC, so a snapshot taken overnight (the demo's 00:30 UTC, the real 2020-05-21 chain's
# 23:20 UTC) holds one expiry 7.5-9 hours away.
SAME_DAY_YEARS = 1.0 / 365.0
HOURS_PER_YEAR = 365.0 * 24.0

# Round numbers near spot: multiples of one tenth of spot's power of ten ($1,000 at $90,000; $100 at $3,000)
# within +/- ROUND_RANGE_PCT of spot.
ROUND_RANGE_PCT = 10.0

# The acceleration zone: the levels around the short-gamma peak below the flip where the profile is at least
# ZONE_PEAK_SHARE of that peak (short gamma at least half its worst).
ZONE_PEAK_SHARE = 0.5

LEVEL_SPOT, LEVEL_ZERO_GAMMA, LEVEL_CONFIGURED, LEVEL_ROUND = "spot", "zero_gamma", "configured", "round"
SPOT_CROSSED_FLIP, FLIP_MOVED = "spot_crossed_flip", "flip_moved"


@dataclass(frozen=True)
class Assumptions:
    """The settings a day's gamma is computed under (pipelines/settings.py), recorded on every row."""

    dealer_convention: str = "long_calls_short_puts"  # or 'short_calls_long_puts'
    near_expiry_policy: str = "include"  # 'include', 'exclude' or 'floor' same-day expiries
    t_floor_hours: float = 24.0  # used by 'floor' only
    level_band_pct: float = 1.0  # level bands: strikes within +/- this percent of the level
    flip_move_pct: float = 2.0  # flip events: a move of the zero-gamma level by more than this percent

    def __post_init__(self) -> None:
        if self.dealer_convention not in ("long_calls_short_puts", "short_calls_long_puts"):
            raise ValueError(f"unknown dealer convention {self.dealer_convention!r}")
        if self.near_expiry_policy not in ("include", "exclude", "floor"):
            raise ValueError(f"unknown near-expiry policy {self.near_expiry_policy!r}")
        if not (math.isfinite(self.t_floor_hours) and self.t_floor_hours > 0):
            raise ValueError(f"t_floor_hours must be > 0, got {self.t_floor_hours!r}")

    @property
    def dealer_long_calls(self) -> bool:
        return self.dealer_convention == "long_calls_short_puts"

    @property
    def recorded_floor(self) -> float | None:
        return self.t_floor_hours if self.near_expiry_policy == "floor" else None

    @classmethod
    def from_settings(cls, settings) -> Assumptions:
        return cls(dealer_convention=settings.gamma_dealer_convention.value,
                   near_expiry_policy=settings.gamma_near_expiry.value, t_floor_hours=settings.gamma_t_floor_hours,
                   level_band_pct=settings.gamma_level_band_pct, flip_move_pct=settings.gamma_flip_move_pct)


_DAY_CURRENCY = [("snapshot_date", pa.date32()), ("currency", pa.string())]  # the first two columns of every table
# The last columns of every table: the assumptions its rows were computed under.
_ASSUMED = [("dealer_convention", pa.string()), ("near_expiry_policy", pa.string()), ("t_floor_hours", pa.float64())]

BY_STRIKE_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("strike", pa.float64()),
        ("call_gex_usd", pa.float64()),
        ("put_gex_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
        ("call_oi", pa.float64()),  # coins of `currency`
        ("put_oi", pa.float64()),
        *_ASSUMED,
    ]
)

# The by-strike columns with the expiry after the currency.
BY_EXPIRY_STRIKE_SCHEMA = BY_STRIKE_SCHEMA.insert(2, pa.field("expiry_date", pa.date32()))

PROFILE_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("price_level_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
        *_ASSUMED,
    ]
)

REGIME_BANDS_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("low_usd", pa.float64()),
        ("high_usd", pa.float64()),
        ("regime", pa.string()),
        *_ASSUMED,
    ]
)

SUMMARY_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("spot_usd", pa.float64()),
        ("total_net_gex_usd", pa.float64()),
        ("zero_gamma_usd", pa.float64()),
        ("call_wall_usd", pa.float64()),
        ("put_wall_usd", pa.float64()),
        ("regime", pa.string()),
        ("gex_within_2pct_of_spot_usd", pa.float64()),
        ("rows_used", pa.int64()),
        ("rows_excluded", pa.int64()),
        ("gross_gex_usd", pa.float64()),  # sum over strikes of |call GEX| + |put GEX|
        ("total_net_gex_incl_same_day_usd", pa.float64()),  # with same-day expiries (T floored under 'floor')
        ("total_net_gex_excl_same_day_usd", pa.float64()),  # without them
        ("same_day_gross_gex_usd", pa.float64()),  # sum of |GEX| of the same-day rows (as in the incl. total)
        ("rows_same_day", pa.int64()),  # rows expiring within 24 hours of their timestamp (priced or not)
        *_ASSUMED,
    ]
)

LEVEL_BANDS_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("level_usd", pa.float64()),
        ("level_kind", pa.string()),  # spot, zero_gamma, configured, round
        ("level_label", pa.string()),
        ("band_pct", pa.float64()),
        ("band_low_usd", pa.float64()),
        ("band_high_usd", pa.float64()),
        ("strikes_in_band", pa.int64()),
        ("call_gex_usd", pa.float64()),
        ("put_gex_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
        ("gross_gex_usd", pa.float64()),
        ("oi_in_band", pa.float64()),  # call + put open interest of the strikes in the band, coins
        ("oi_in_band_usd", pa.float64()),  # the same at spot, USD (a notional, not gamma)
        ("spot_usd", pa.float64()),
        *_ASSUMED,
    ]
)

DOWNSIDE_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("spot_usd", pa.float64()),
        ("zero_gamma_usd", pa.float64()),
        ("short_band_low_usd", pa.float64()),
        ("short_band_high_usd", pa.float64()),
        ("short_gamma_peak_usd", pa.float64()),
        ("short_gamma_peak_gex_usd", pa.float64()),
        ("accel_zone_low_usd", pa.float64()),
        ("accel_zone_high_usd", pa.float64()),
        ("put_oi_cluster_strike_usd", pa.float64()),
        ("put_oi_cluster_oi", pa.float64()),
        ("target_low_usd", pa.float64()),
        ("target_high_usd", pa.float64()),
        *_ASSUMED,
    ]
)

FLIP_EVENTS_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("event", pa.string()),  # spot_crossed_flip, flip_moved
        ("direction", pa.string()),  # down, up
        ("previous_date", pa.date32()),
        ("previous_spot_usd", pa.float64()),
        ("spot_usd", pa.float64()),
        ("previous_zero_gamma_usd", pa.float64()),
        ("zero_gamma_usd", pa.float64()),
        ("flip_move_pct", pa.float64()),
        ("threshold_pct", pa.float64()),
        *_ASSUMED,
    ]
)

# What each column means (one name, one meaning, in every gamma table): the assets' column schemas (Dagster) and the
# README's catalogue say the same. GEX is USD per 1% move of spot throughout.
COLUMN_DOCS = {
    "snapshot_date": "day of the option-chain snapshot (taken 00:30 UTC the next morning in the demo)",
    "currency": "underlying: BTC or ETH",
    "strike": "strike, USD",
    "expiry_date": "expiry date (08:00 UTC)",
    "call_gex_usd": "dealer GEX of the calls, USD per 1% move of spot (sign from dealer_convention)",
    "put_gex_usd": "dealer GEX of the puts, USD per 1% move of spot (sign from dealer_convention)",
    "net_gex_usd": "call + put GEX, USD per 1% move of spot",
    "gross_gex_usd": "sum over strikes of |call GEX| + |put GEX|, USD per 1% move: gamma whatever its sign",
    "call_oi": "call open interest, coins of the currency",
    "put_oi": "put open interest, coins of the currency",
    "price_level_usd": "hypothetical spot level, USD (0.5x-1.5x spot in 0.25% steps, plus the exact crossings)",
    "low_usd": "band's lower edge, USD",
    "high_usd": "band's upper edge, USD",
    "regime": "long_gamma (net GEX >= 0: dealers damp moves) or short_gamma (< 0: they amplify them)",
    "spot_usd": "spot: Deribit's index of the chain's newest row, USD",
    "total_net_gex_usd": "net GEX of the chain at spot under near_expiry_policy, USD per 1% move",
    "zero_gamma_usd": "zero-gamma level (the flip): the profile's sign change nearest spot, USD; null if none",
    "call_wall_usd": "strike with the largest call GEX, USD",
    "put_wall_usd": "strike with the largest |put GEX|, USD",
    "gex_within_2pct_of_spot_usd": "sum of |net GEX| of the strikes within +/-2% of spot, USD per 1% move",
    "rows_used": "chain rows priced",
    "rows_excluded": "chain rows left out: expired, no OI, no IV or forward, or same-day under 'exclude'",
    "total_net_gex_incl_same_day_usd": "net GEX with the same-day expiries (their T floored under 'floor'), USD per 1%",
    "total_net_gex_excl_same_day_usd": "net GEX without the same-day expiries, USD per 1% move",
    "same_day_gross_gex_usd": "sum of |GEX| of the same-day expiries' rows, USD per 1% move",
    "rows_same_day": "chain rows expiring within 24 hours of their timestamp (0 < T <= 1/365)",
    "level_usd": "the level, USD",
    "level_kind": "spot, zero_gamma, configured (dbt/seeds/price_levels.csv, BTC) or round (multiples of a tenth "
                  "of spot's power of ten within 10% of spot); a level that is several keeps the first in that order",
    "level_label": "the configured level's label",
    "band_pct": "half-width of the band, percent of the level (BTCW_GAMMA_LEVEL_BAND_PCT)",
    "band_low_usd": "level x (1 - band_pct/100), USD: strikes from here ...",
    "band_high_usd": "... to level x (1 + band_pct/100), USD, both ends included",
    "strikes_in_band": "strikes in the band",
    "oi_in_band": "call + put open interest of the strikes in the band, coins of the currency",
    "oi_in_band_usd": "oi_in_band x spot, USD: the notional of those options (not gamma)",
    "short_band_low_usd": "lower edge of the short-gamma band directly below the flip, USD",
    "short_band_high_usd": "upper edge of that band: the flip, USD",
    "short_gamma_peak_usd": "profile level in that band where net GEX is lowest (most short gamma), USD",
    "short_gamma_peak_gex_usd": "net GEX there, USD per 1% move (negative)",
    "accel_zone_low_usd": "acceleration zone, low edge: the profile levels around the peak where net GEX <= half "
                          "the peak's (short gamma at least half its worst), lowest, USD",
    "accel_zone_high_usd": "acceleration zone, high edge (highest such level), USD",
    "put_oi_cluster_strike_usd": "strike with the largest put OI in the short band below the zone (ties: higher)",
    "put_oi_cluster_oi": "its put open interest, coins",
    "target_low_usd": "downside target range, low: the put-OI cluster strike, USD",
    "target_high_usd": "downside target range, high: the acceleration zone's low edge, USD",
    "event": "spot_crossed_flip (spot moved to the other side of the flip from the day before) or flip_moved "
             "(the flip moved more than threshold_pct from the day before)",
    "direction": "down or up",
    "previous_date": "the calendar day before (events need consecutive days)",
    "previous_spot_usd": "spot the day before, USD",
    "previous_zero_gamma_usd": "zero-gamma level the day before, USD",
    "flip_move_pct": "change of the zero-gamma level from the day before, percent",
    "threshold_pct": "flip-move threshold, percent (BTCW_GAMMA_FLIP_MOVE_PCT)",
    "dealer_convention": "assumed dealer side: long_calls_short_puts (standard) or short_calls_long_puts "
                         "(BTCW_GAMMA_DEALERS)",
    "near_expiry_policy": "same-day expiries: include, exclude or floor (BTCW_GAMMA_SAME_DAY)",
    "t_floor_hours": "the floor of T in hours under 'floor' (BTCW_GAMMA_T_FLOOR_HOURS); null otherwise",
}

# Columns the asset reads from marts.fct_option_chain_snapshot.
CHAIN_COLUMNS = (
    "snapshot_ts", "expiry_date", "strike", "time_to_expiry_years", "option_type", "open_interest", "mark_iv",
    "forward_usd", "index_usd",
)


@dataclass(frozen=True)
class ChainArrays:
    """One day's chain as arrays (from marts.fct_option_chain_snapshot)."""

    strike: np.ndarray
    expiry_years: np.ndarray
    is_call: np.ndarray
    open_interest: np.ndarray
    iv: np.ndarray  # fraction (mark_iv / 100)
    forward: np.ndarray
    expiry_date: np.ndarray  # datetime64[D]; NaT where unknown (such rows get a NaN expiry_years: not pricable)
    spot: float  # NaN when no row has an index price

    @classmethod
    def from_table(cls, chain: pa.Table) -> ChainArrays:
        # Columnar conversions only (no to_pylist): Python objects for ~800 rows cost ~15 ms a day (profiled),
        # paid again for every day of a backfill.  Casting first keeps an all-null column (Arrow's null type) and
        # other timestamp units working; nulls become NaN / NaT / False exactly as the object path made them.
        def col(name: str) -> np.ndarray:
            return chain.column(name).to_numpy(zero_copy_only=False).astype(float)

        expiry = chain.column("expiry_date").cast(pa.date32()).to_numpy().astype("datetime64[D]")
        years = col("time_to_expiry_years")
        years[np.isnat(expiry)] = np.nan
        stamps = chain.column("snapshot_ts").cast(pa.timestamp("us")).to_numpy().astype("datetime64[us]")
        is_call = pc.fill_null(pc.equal(chain.column("option_type").cast(pa.string()), "call"), False)
        return cls(
            strike=col("strike"),
            expiry_years=years,
            is_call=is_call.to_numpy().astype(bool),
            open_interest=col("open_interest"),
            iv=col("mark_iv") / 100.0,
            forward=col("forward_usd"),
            expiry_date=expiry,
            spot=spot_from_index(col("index_usd"), stamps),
        )

    @property
    def args(self) -> tuple[np.ndarray, ...]:
        """(strike, expiry_years, is_call, open_interest, iv, forward): the library's argument order."""
        return self.strike, self.expiry_years, self.is_call, self.open_interest, self.iv, self.forward

    @property
    def spot_ok(self) -> bool:
        return bool(np.isfinite(self.spot) and self.spot > 0)


def split_by_day(chains: pa.Table, days: list[dt.date], date_column: str = "snapshot_date") -> list[pa.Table]:
    """The rows of each of ``days`` (in that order), from one table holding the window's rows sorted by day.

    The asset reads the whole window in one query (one DuckDB round trip instead of one per day) ordered by
    (day, instrument), so each day's slice holds its rows in the same order a per-day query returned them:
    the sums, and so every figure, are bit for bit those of a per-day read.  Slices are zero-copy; a day with
    no rows gets an empty table.  Raises ValueError if the rows are not sorted by day.
    """
    if chains.num_rows == 0:
        return [chains] * len(days)
    lo, hi = day_bounds(chains, days, date_column)
    return [chains.slice(int(a), int(b - a)) for a, b in zip(lo, hi)]


def day_bounds(chains: pa.Table, days: list[dt.date], date_column: str = "snapshot_date"
               ) -> tuple[np.ndarray, np.ndarray]:
    """The row range [lo, hi) of each of ``days`` in ``chains`` (sorted by day; ValueError otherwise)."""
    dates = chains.column(date_column).cast(pa.date32()).to_numpy().astype("datetime64[D]")
    if np.isnat(dates).any() or np.any(dates[1:] < dates[:-1]):
        raise ValueError(f"rows must be sorted by a non-null {date_column}")
    wanted = np.array(days, dtype="datetime64[D]")
    return np.searchsorted(dates, wanted, side="left"), np.searchsorted(dates, wanted, side="right")


def spot_from_index(index_usd: np.ndarray, stamps: np.ndarray) -> float:
    """Spot S: the index (Deribit's estimated_delivery_price) of the chain's newest row.

    A chain is stamped row by row over a few minutes (326 rows over 162 s on 2020-05-21, the index moving
    $9,081.52-$9,095.86); the newest row is the state the snapshot ends in.  Several rows with that stamp:
    the median of their indices.  Rows without an index or stamp are ignored; NaN when none is left.
    """
    ok = np.isfinite(index_usd) & ~np.isnat(stamps)
    if not ok.any():
        return float("nan")
    newest = stamps[ok].max()
    return float(np.median(index_usd[ok & (stamps == newest)]))


@dataclass(frozen=True)
class GammaDay:
    """The tables of one snapshot day and currency, plus the crossings (USD) the picture marks."""

    by_strike: pa.Table
    by_expiry_strike: pa.Table
    profile: pa.Table
    regime_bands: pa.Table
    summary: pa.Table
    level_bands: pa.Table
    downside: pa.Table
    crossings: np.ndarray


def profile_levels(spot: float) -> np.ndarray:
    """The profile grid (USD, ascending): 0.5x..1.5x spot in 0.25% steps, spot exactly on it."""
    steps = np.arange(PROFILE_LO_STEPS, PROFILE_HI_STEPS + 1, dtype=float)
    return spot * (steps / PROFILE_STEPS_PER_SPOT)


def _day_currency(day: dt.date, currency: str, n: int) -> dict[str, pa.Array]:
    return {"snapshot_date": pa.array([day] * n, pa.date32()), "currency": pa.array([currency] * n, pa.string())}


def _assumed(assumptions: Assumptions, n: int) -> dict[str, pa.Array]:
    return {
        "dealer_convention": pa.array([assumptions.dealer_convention] * n, pa.string()),
        "near_expiry_policy": pa.array([assumptions.near_expiry_policy] * n, pa.string()),
        "t_floor_hours": pa.array([assumptions.recorded_floor] * n, pa.float64()),
    }


def same_day_mask(expiry_years: np.ndarray) -> np.ndarray:
    """Rows expiring within one day of their own timestamp (0 < T <= 1/365)."""
    t = np.asarray(expiry_years, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(t) & (t > 0) & (t <= SAME_DAY_YEARS)


def apply_near_expiry(chain: ChainArrays, assumptions: Assumptions, *, policy: str | None = None) -> ChainArrays:
    """The chain as the near-expiry policy prices it: 'include' as is; 'exclude' gives same-day rows a NaN T (not
    pricable: left out of every table, counted in rows_excluded); 'floor' raises every T in (0, floor) to the floor.
    Expired rows (T <= 0) stay expired under every policy."""
    policy = policy or assumptions.near_expiry_policy
    t = chain.expiry_years.copy()
    if policy == "exclude":
        t[same_day_mask(t)] = np.nan
    elif policy == "floor":
        floor = assumptions.t_floor_hours / HOURS_PER_YEAR
        with np.errstate(invalid="ignore"):
            short = np.isfinite(t) & (t > 0) & (t < floor)
        t[short] = floor
    return replace(chain, expiry_years=t)


def _group_sums(inverse: np.ndarray, n: int, is_call: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    calls = np.bincount(inverse, weights=np.where(is_call, values, 0.0), minlength=n)
    puts = np.bincount(inverse, weights=np.where(is_call, 0.0, values), minlength=n)
    return calls, puts


def _by_strike(
    day: dt.date, currency: str, chain: ChainArrays, usable: np.ndarray, assumptions: Assumptions
) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    strikes, call_gex, put_gex, net_gex = gamma.gex_by_strike(*chain.args, dealer_long_calls=assumptions.dealer_long_calls)
    positions = np.searchsorted(strikes, chain.strike[usable])
    call_oi, put_oi = _group_sums(positions, len(strikes), chain.is_call[usable], chain.open_interest[usable])
    table = pa.table(
        {
            **_day_currency(day, currency, len(strikes)),
            "strike": strikes,
            "call_gex_usd": call_gex,
            "put_gex_usd": put_gex,
            "net_gex_usd": net_gex,
            "call_oi": call_oi,
            "put_oi": put_oi,
            **_assumed(assumptions, len(strikes)),
        },
        schema=BY_STRIKE_SCHEMA,
    )
    return table, strikes, call_gex, put_gex, net_gex, put_oi


def _by_expiry_strike(day: dt.date, currency: str, chain: ChainArrays, usable: np.ndarray,
                      assumptions: Assumptions) -> pa.Table:
    gex = gamma.option_gex(*chain.args, dealer_long_calls=assumptions.dealer_long_calls)[usable]
    expiry_days = chain.expiry_date[usable].astype("int64")
    keys = np.empty(int(usable.sum()), dtype=[("expiry", "i8"), ("strike", "f8")])
    keys["expiry"], keys["strike"] = expiry_days, chain.strike[usable]
    unique, inverse = np.unique(keys, return_inverse=True)  # sorted by expiry, then strike
    n = len(unique)
    is_call = chain.is_call[usable]
    call_gex, put_gex = _group_sums(inverse, n, is_call, gex)
    call_oi, put_oi = _group_sums(inverse, n, is_call, chain.open_interest[usable])
    return pa.table(
        {
            **_day_currency(day, currency, n),
            "expiry_date": pa.array(unique["expiry"].astype("datetime64[D]"), pa.date32()),
            "strike": unique["strike"],
            "call_gex_usd": call_gex,
            "put_gex_usd": put_gex,
            "net_gex_usd": call_gex + put_gex,
            "call_oi": call_oi,
            "put_oi": put_oi,
            **_assumed(assumptions, n),
        },
        schema=BY_EXPIRY_STRIKE_SCHEMA,
    )


def round_levels(spot: float) -> list[float]:
    """Round numbers near spot: multiples of a tenth of spot's power of ten within +/- ROUND_RANGE_PCT of spot."""
    if not (math.isfinite(spot) and spot > 0):
        return []
    step = 10.0 ** (math.floor(math.log10(spot)) - 1)
    lo, hi = spot * (1 - ROUND_RANGE_PCT / 100), spot * (1 + ROUND_RANGE_PCT / 100)
    return [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def day_levels(spot: float, zero_gamma: float | None,
               configured: tuple[tuple[float, str], ...] = ()) -> list[tuple[float, str, str | None]]:
    """(level, kind, label) ascending, one row per level: spot, the zero-gamma level, the configured levels (with
    their labels), round numbers near spot. A level that is several of these keeps the first kind in that order."""
    found: dict[float, tuple[str, str | None]] = {}
    candidates = [(spot, LEVEL_SPOT, None)] if math.isfinite(spot) and spot > 0 else []
    if zero_gamma is not None:
        candidates.append((zero_gamma, LEVEL_ZERO_GAMMA, None))
    candidates += [(float(level), LEVEL_CONFIGURED, label) for level, label in configured]
    candidates += [(level, LEVEL_ROUND, None) for level in round_levels(spot)]
    for level, kind, label in candidates:
        found.setdefault(float(level), (kind, label))
    return [(level, *found[level]) for level in sorted(found)]


def _level_bands(day: dt.date, currency: str, spot: float, levels: list[tuple[float, str, str | None]],
                 strikes: np.ndarray, call_gex: np.ndarray, put_gex: np.ndarray, oi: np.ndarray,
                 assumptions: Assumptions) -> pa.Table:
    """Per level L: the strikes K with L (1 - p/100) <= K <= L (1 + p/100), p = band_pct, and their call, put, net
    (= call + put) and gross (= |call| + |put|) GEX and open interest (``oi``: calls + puts per strike), summed in
    ascending strike order."""
    pct = assumptions.level_band_pct
    cols: dict[str, list] = {name: [] for name in ("level_usd", "level_kind", "level_label", "band_low_usd",
                                                   "band_high_usd", "strikes_in_band", "call_gex_usd", "put_gex_usd",
                                                   "net_gex_usd", "gross_gex_usd", "oi_in_band",
                                                   "oi_in_band_usd")}
    for level, kind, label in levels:
        low, high = level * (1 - pct / 100), level * (1 + pct / 100)
        inside = (strikes >= low) & (strikes <= high)
        calls, puts = call_gex[inside], put_gex[inside]
        cols["level_usd"].append(level)
        cols["level_kind"].append(kind)
        cols["level_label"].append(label)
        cols["band_low_usd"].append(low)
        cols["band_high_usd"].append(high)
        cols["strikes_in_band"].append(int(inside.sum()))
        cols["call_gex_usd"].append(float(calls.sum()))
        cols["put_gex_usd"].append(float(puts.sum()))
        cols["net_gex_usd"].append(float((calls + puts).sum()))
        cols["gross_gex_usd"].append(float((np.abs(calls) + np.abs(puts)).sum()))
        cols["oi_in_band"].append(float(oi[inside].sum()))
        cols["oi_in_band_usd"].append(float(oi[inside].sum()) * spot)
    n = len(levels)
    return pa.table(
        {**_day_currency(day, currency, n), **cols, "band_pct": [pct] * n, "spot_usd": [spot] * n,
         **_assumed(assumptions, n)},
        schema=LEVEL_BANDS_SCHEMA,
    ).select(LEVEL_BANDS_SCHEMA.names)


def downside_figures(zero_gamma: float | None, bands: list[gamma.RegimeBand], levels: np.ndarray,
                     values: np.ndarray, strikes: np.ndarray, put_oi: np.ndarray) -> dict[str, float | None]:
    """The short-gamma side below the flip, by these rules (every figure None where its rule finds nothing):

    * short band: the regime band directly below the zero-gamma level (its high edge is the flip) when it is short
      gamma; nothing when there is no flip or dealers are long gamma below it;
    * short-gamma peak: the profile level in that band where net GEX is lowest (the most short gamma; ties: the
      lower level) and that GEX;
    * acceleration zone: the run of profile levels around the peak, inside the band, where net GEX is at most
      ZONE_PEAK_SHARE (half) of the peak's, i.e. dealers' short gamma is at least half its worst: its lowest and
      highest profile levels (on the profile's grid of 0.25% of spot, or an exact crossing);
    * put-OI cluster: the strike in the short band strictly below the zone's low edge with the largest put open
      interest (ties: the higher strike), and that open interest;
    * target range: from the put-OI cluster strike up to the zone's low edge: where the move the zone accelerates
      runs to, and the puts whose hedging meets it.
    """
    out: dict[str, float | None] = dict.fromkeys(
        ("short_band_low_usd", "short_band_high_usd", "short_gamma_peak_usd", "short_gamma_peak_gex_usd",
         "accel_zone_low_usd", "accel_zone_high_usd", "put_oi_cluster_strike_usd", "put_oi_cluster_oi",
         "target_low_usd", "target_high_usd"))
    if zero_gamma is None:
        return out
    below = [b for b in bands if b.high == zero_gamma and b.regime == SHORT_GAMMA]
    if not below:
        return out
    band = below[0]
    out["short_band_low_usd"], out["short_band_high_usd"] = band.low, band.high
    idx = np.flatnonzero((levels >= band.low) & (levels <= band.high))
    if not idx.size or not values[idx].min() < 0:
        return out
    peak = int(idx[np.argmin(values[idx])])  # argmin: the first (lowest level) of equal minima
    out["short_gamma_peak_usd"], out["short_gamma_peak_gex_usd"] = float(levels[peak]), float(values[peak])
    threshold = ZONE_PEAK_SHARE * values[peak]
    lo = hi = peak
    while lo - 1 >= idx[0] and values[lo - 1] <= threshold:
        lo -= 1
    while hi + 1 <= idx[-1] and values[hi + 1] <= threshold:
        hi += 1
    out["accel_zone_low_usd"], out["accel_zone_high_usd"] = float(levels[lo]), float(levels[hi])
    candidates = np.flatnonzero((strikes >= band.low) & (strikes < levels[lo]) & (put_oi > 0))
    if candidates.size:
        best = candidates[put_oi[candidates] == put_oi[candidates].max()][-1]
        out["put_oi_cluster_strike_usd"], out["put_oi_cluster_oi"] = float(strikes[best]), float(put_oi[best])
        out["target_low_usd"], out["target_high_usd"] = float(strikes[best]), float(levels[lo])
    return out


def gamma_day(day: dt.date, chain: ChainArrays, *, currency: str, assumptions: Assumptions = Assumptions(),
              configured_levels: tuple[tuple[float, str], ...] = ()) -> GammaDay:
    """All tables of one snapshot day of one currency's chain, under ``assumptions``; ``configured_levels``
    ((level USD, label), ...) get a level band each beside spot, zero gamma and the round numbers."""
    long_calls = assumptions.dealer_long_calls
    same_day = same_day_mask(chain.expiry_years)
    priced = apply_near_expiry(chain, assumptions)
    usable = gamma.pricable_mask(priced.strike, priced.expiry_years, priced.open_interest, priced.iv, priced.forward)
    by_strike, strikes, call_gex, put_gex, net_gex, put_oi = _by_strike(day, currency, priced, usable, assumptions)
    strike_oi = by_strike.column("call_oi").to_numpy() + put_oi
    by_expiry_strike = _by_expiry_strike(day, currency, priced, usable, assumptions)
    total = float(net_gex.sum())

    # The totals with and without the same-day rows, whatever the policy: 'exclude' leaves them out of the tables,
    # but their GEX (priced as 'include' would) is still reported beside.
    with_same_day = priced if assumptions.near_expiry_policy != "exclude" else apply_near_expiry(
        chain, assumptions, policy="include")
    per_option = gamma.option_gex(*with_same_day.args, dealer_long_calls=long_calls)
    incl = float(per_option.sum())
    excl = float(per_option[~same_day].sum())
    same_day_gross = float(np.abs(per_option[same_day]).sum())

    crossings = np.empty(0)
    bands: list[gamma.RegimeBand] = []
    levels = np.empty(0)
    if priced.spot_ok:
        regimes = gamma.gamma_regimes(priced.spot, *priced.args, lo=PROFILE_LO, hi=PROFILE_HI,
                                      dealer_long_calls=long_calls)
        crossings, bands = regimes.crossings, regimes.bands
        levels = np.unique(np.concatenate((profile_levels(priced.spot), crossings)))
    profile_values = (gamma.gex_profile(levels, priced.spot, *priced.args, dealer_long_calls=long_calls)
                      if levels.size else np.empty(0))
    profile = pa.table(
        {**_day_currency(day, currency, len(levels)), "price_level_usd": levels, "net_gex_usd": profile_values,
         **_assumed(assumptions, len(levels))},
        schema=PROFILE_SCHEMA,
    )
    regime_bands = pa.table(
        {
            **_day_currency(day, currency, len(bands)),
            "low_usd": [b.low for b in bands],
            "high_usd": [b.high for b in bands],
            "regime": [b.regime for b in bands],
            **_assumed(assumptions, len(bands)),
        },
        schema=REGIME_BANDS_SCHEMA,
    )
    zero_gamma = gamma.nearest_to_spot(crossings, priced.spot) if priced.spot_ok else None
    summary = pa.table(
        {
            **_day_currency(day, currency, 1),
            "spot_usd": [priced.spot],
            "total_net_gex_usd": [total],
            "zero_gamma_usd": pa.array([zero_gamma], pa.float64()),
            "call_wall_usd": pa.array([gamma.call_wall(strikes, call_gex)], pa.float64()),
            "put_wall_usd": pa.array([gamma.put_wall(strikes, put_gex)], pa.float64()),
            "regime": [LONG_GAMMA if total >= 0 else SHORT_GAMMA],
            "gex_within_2pct_of_spot_usd": [
                gamma.gex_within_band(strikes, net_gex, priced.spot, NEAR_SPOT_BAND_PCT) if priced.spot_ok else 0.0
            ],
            "rows_used": [int(usable.sum())],
            "rows_excluded": [int((~usable).sum())],
            "gross_gex_usd": [float((np.abs(call_gex) + np.abs(put_gex)).sum())],
            "total_net_gex_incl_same_day_usd": [incl],
            "total_net_gex_excl_same_day_usd": [excl],
            "same_day_gross_gex_usd": [same_day_gross],
            "rows_same_day": [int(same_day.sum())],
            **_assumed(assumptions, 1),
        },
        schema=SUMMARY_SCHEMA,
    )
    level_rows = day_levels(priced.spot, zero_gamma, configured_levels) if priced.spot_ok else []
    level_bands = _level_bands(day, currency, priced.spot, level_rows, strikes, call_gex, put_gex, strike_oi,
                               assumptions)
    figures = downside_figures(zero_gamma, bands, levels, profile_values, strikes, put_oi)
    downside = pa.table(
        {**_day_currency(day, currency, 1), "spot_usd": [priced.spot], "zero_gamma_usd": pa.array([zero_gamma], pa.float64()),
         **{name: pa.array([value], pa.float64()) for name, value in figures.items()}, **_assumed(assumptions, 1)},
        schema=DOWNSIDE_SCHEMA,
    )
    return GammaDay(by_strike, by_expiry_strike, profile, regime_bands, summary, level_bands, downside, crossings)


def flip_events(summaries: list[dict], assumptions: Assumptions = Assumptions()) -> pa.Table:
    """Zero-gamma events from the summary rows of one currency (dicts with snapshot_date, currency, spot_usd,
    zero_gamma_usd), by day; a day is compared with the calendar day before (after a gap there is no event, as in
    marts.fct_price_level_events), and both days need a zero-gamma level:

    * spot_crossed_flip: spot was at or above the day before's flip and is below this day's ('down'), or was below
      it and is at or above ('up');
    * flip_moved: the zero-gamma level moved by more than ``assumptions.flip_move_pct`` percent of the day before's
      ('down' or 'up', the way it moved).
    """
    rows = sorted(summaries, key=lambda r: (r["currency"], r["snapshot_date"]))
    out: list[dict] = []
    threshold = assumptions.flip_move_pct
    for prev, cur in zip(rows, rows[1:]):
        if prev["currency"] != cur["currency"] or cur["snapshot_date"] - prev["snapshot_date"] != dt.timedelta(days=1):
            continue
        f0, f1, s0, s1 = prev["zero_gamma_usd"], cur["zero_gamma_usd"], prev["spot_usd"], cur["spot_usd"]
        if f0 is None or f1 is None or not all(math.isfinite(v) for v in (f0, f1, s0, s1)):
            continue
        move = (f1 - f0) / f0 * 100.0
        base = {"snapshot_date": cur["snapshot_date"], "currency": cur["currency"],
                "previous_date": prev["snapshot_date"], "previous_spot_usd": s0, "spot_usd": s1,
                "previous_zero_gamma_usd": f0, "zero_gamma_usd": f1, "flip_move_pct": move,
                "threshold_pct": threshold}
        if (s0 >= f0) != (s1 >= f1):
            out.append({**base, "event": SPOT_CROSSED_FLIP, "direction": "down" if s1 < f1 else "up"})
        if abs(move) > threshold:
            out.append({**base, "event": FLIP_MOVED, "direction": "down" if move < 0 else "up"})
    n = len(out)
    columns = {name: [r[name] for r in out] for name in FLIP_EVENTS_SCHEMA.names if name not in
               ("dealer_convention", "near_expiry_policy", "t_floor_hours")}
    return pa.table({**columns, **_assumed(assumptions, n)}, schema=FLIP_EVENTS_SCHEMA)


def gamma_tables_for_day(day: dt.date, chain: ChainArrays, *, currency: str) -> tuple[pa.Table, pa.Table]:
    """(by strike, summary) of one day: the two original tables, kept for callers that need only those."""
    result = gamma_day(day, chain, currency=currency)
    return result.by_strike, result.summary
