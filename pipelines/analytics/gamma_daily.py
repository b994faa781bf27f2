"""One snapshot day of the option chain → the five gamma tables' rows. Pure: arrays in, pyarrow tables out.

Tables (one snapshot day and currency each, BTC or ETH; the asset concatenates them and replaces the run's window):

* by strike            (snapshot_date, currency, strike): call, put and net GEX summed over expiries, and OI;
* by expiry and strike (snapshot_date, currency, expiry_date, strike): the same before summing over expiries;
* profile              (snapshot_date, currency, price_level_usd): net GEX if spot were at that level (PROFILE_*);
* regime bands         (snapshot_date, currency, low_usd): the ranges of that grid where dealers are long / short;
* summary              (snapshot_date, currency): spot, total, zero gamma, walls, regime, concentration, rows used.

Every GEX figure is USD per 1% move of the currency's own spot (../shared/docs/gamma.md; an option on one ETH is
priced like an option on one BTC, in USD); open interest is in coins of the currency. Rows the library cannot price
are left out of every table and counted in the summary's rows_excluded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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

_DAY_CURRENCY = [("snapshot_date", pa.date32()), ("currency", pa.string())]  # the first two columns of every table

BY_STRIKE_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("strike", pa.float64()),
        ("call_gex_usd", pa.float64()),
        ("put_gex_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
        ("call_oi", pa.float64()),  # coins of `currency`
        ("put_oi", pa.float64()),
    ]
)

# The by-strike columns with the expiry after the currency.
BY_EXPIRY_STRIKE_SCHEMA = BY_STRIKE_SCHEMA.insert(2, pa.field("expiry_date", pa.date32()))

PROFILE_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("price_level_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
    ]
)

REGIME_BANDS_SCHEMA = pa.schema(
    [
        *_DAY_CURRENCY,
        ("low_usd", pa.float64()),
        ("high_usd", pa.float64()),
        ("regime", pa.string()),
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
    ]
)

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
    dates = chains.column(date_column).cast(pa.date32()).to_numpy().astype("datetime64[D]")
    if np.isnat(dates).any() or np.any(dates[1:] < dates[:-1]):
        raise ValueError(f"rows must be sorted by a non-null {date_column}")
    wanted = np.array(days, dtype="datetime64[D]")
    lo = np.searchsorted(dates, wanted, side="left")
    hi = np.searchsorted(dates, wanted, side="right")
    return [chains.slice(int(a), int(b - a)) for a, b in zip(lo, hi)]


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
    """The five tables of one snapshot day, plus the crossings (USD) the picture marks."""

    by_strike: pa.Table
    by_expiry_strike: pa.Table
    profile: pa.Table
    regime_bands: pa.Table
    summary: pa.Table
    crossings: np.ndarray


def profile_levels(spot: float) -> np.ndarray:
    """The profile grid (USD, ascending): 0.5x..1.5x spot in 0.25% steps, spot exactly on it."""
    steps = np.arange(PROFILE_LO_STEPS, PROFILE_HI_STEPS + 1, dtype=float)
    return spot * (steps / PROFILE_STEPS_PER_SPOT)


def _day_currency(day: dt.date, currency: str, n: int) -> dict[str, pa.Array]:
    return {"snapshot_date": pa.array([day] * n, pa.date32()), "currency": pa.array([currency] * n, pa.string())}


def _group_sums(inverse: np.ndarray, n: int, is_call: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    calls = np.bincount(inverse, weights=np.where(is_call, values, 0.0), minlength=n)
    puts = np.bincount(inverse, weights=np.where(is_call, 0.0, values), minlength=n)
    return calls, puts


def _by_strike(
    day: dt.date, currency: str, chain: ChainArrays, usable: np.ndarray
) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    strikes, call_gex, put_gex, net_gex = gamma.gex_by_strike(*chain.args)
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
        },
        schema=BY_STRIKE_SCHEMA,
    )
    return table, strikes, call_gex, put_gex, net_gex


def _by_expiry_strike(day: dt.date, currency: str, chain: ChainArrays, usable: np.ndarray) -> pa.Table:
    gex = gamma.option_gex(*chain.args)[usable]
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
        },
        schema=BY_EXPIRY_STRIKE_SCHEMA,
    )


def gamma_day(day: dt.date, chain: ChainArrays, *, currency: str) -> GammaDay:
    """All five tables for one snapshot day of one currency's chain."""
    usable = gamma.pricable_mask(chain.strike, chain.expiry_years, chain.open_interest, chain.iv, chain.forward)
    by_strike, strikes, call_gex, put_gex, net_gex = _by_strike(day, currency, chain, usable)
    by_expiry_strike = _by_expiry_strike(day, currency, chain, usable)
    total = float(net_gex.sum())

    crossings = np.empty(0)
    bands: list[gamma.RegimeBand] = []
    levels = np.empty(0)
    if chain.spot_ok:
        regimes = gamma.gamma_regimes(chain.spot, *chain.args, lo=PROFILE_LO, hi=PROFILE_HI)
        crossings, bands = regimes.crossings, regimes.bands
        levels = np.unique(np.concatenate((profile_levels(chain.spot), crossings)))
    profile_values = gamma.gex_profile(levels, chain.spot, *chain.args) if levels.size else np.empty(0)
    profile = pa.table(
        {**_day_currency(day, currency, len(levels)), "price_level_usd": levels, "net_gex_usd": profile_values},
        schema=PROFILE_SCHEMA,
    )
    regime_bands = pa.table(
        {
            **_day_currency(day, currency, len(bands)),
            "low_usd": [b.low for b in bands],
            "high_usd": [b.high for b in bands],
            "regime": [b.regime for b in bands],
        },
        schema=REGIME_BANDS_SCHEMA,
    )
    zero_gamma = gamma.nearest_to_spot(crossings, chain.spot) if chain.spot_ok else None
    summary = pa.table(
        {
            **_day_currency(day, currency, 1),
            "spot_usd": [chain.spot],
            "total_net_gex_usd": [total],
            "zero_gamma_usd": pa.array([zero_gamma], pa.float64()),
            "call_wall_usd": pa.array([gamma.call_wall(strikes, call_gex)], pa.float64()),
            "put_wall_usd": pa.array([gamma.put_wall(strikes, put_gex)], pa.float64()),
            "regime": [LONG_GAMMA if total >= 0 else SHORT_GAMMA],
            "gex_within_2pct_of_spot_usd": [
                gamma.gex_within_band(strikes, net_gex, chain.spot, NEAR_SPOT_BAND_PCT) if chain.spot_ok else 0.0
            ],
            "rows_used": [int(usable.sum())],
            "rows_excluded": [int((~usable).sum())],
        },
        schema=SUMMARY_SCHEMA,
    )
    return GammaDay(by_strike, by_expiry_strike, profile, regime_bands, summary, crossings)


def gamma_tables_for_day(day: dt.date, chain: ChainArrays, *, currency: str) -> tuple[pa.Table, pa.Table]:
    """(by strike, summary) of one day: the two original tables, kept for callers that need only those."""
    result = gamma_day(day, chain, currency=currency)
    return result.by_strike, result.summary
