"""One snapshot day of the option chain → the gamma tables' rows. Pure: arrays in, pyarrow tables out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.analytics import gamma

# Band for "gamma concentrated near spot" (scenario.md question 6).
NEAR_SPOT_BAND_PCT = 2.0

BY_STRIKE_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
        ("strike", pa.float64()),
        ("call_gex_usd", pa.float64()),
        ("put_gex_usd", pa.float64()),
        ("net_gex_usd", pa.float64()),
        ("call_oi_btc", pa.float64()),
        ("put_oi_btc", pa.float64()),
    ]
)

SUMMARY_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
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


@dataclass(frozen=True)
class ChainArrays:
    """One day's chain as arrays (from marts.fct_option_chain_snapshot)."""

    strike: np.ndarray
    expiry_years: np.ndarray
    is_call: np.ndarray
    open_interest: np.ndarray
    iv: np.ndarray  # fraction (mark_iv / 100)
    forward: np.ndarray
    spot: float

    @classmethod
    def from_table(cls, chain: pa.Table) -> ChainArrays:
        def col(name: str) -> np.ndarray:
            return chain.column(name).to_numpy(zero_copy_only=False).astype(float)

        index = col("index_usd")
        return cls(
            strike=col("strike"),
            expiry_years=col("time_to_expiry_years"),
            is_call=np.asarray(chain.column("option_type").to_pylist()) == "call",
            open_interest=col("open_interest_btc"),
            iv=col("mark_iv") / 100.0,
            forward=col("forward_usd"),
            spot=float(np.nanmedian(index)) if np.isfinite(index).any() else float("nan"),
        )


def _per_strike_oi(strikes: np.ndarray, chain: ChainArrays, usable: np.ndarray, calls: bool) -> np.ndarray:
    mask = usable & (chain.is_call == calls)
    positions = np.searchsorted(strikes, chain.strike[mask])
    return np.bincount(positions, weights=chain.open_interest[mask], minlength=len(strikes))


def gamma_tables_for_day(day: dt.date, chain: ChainArrays) -> tuple[pa.Table, pa.Table]:
    args = (chain.strike, chain.expiry_years, chain.is_call, chain.open_interest, chain.iv, chain.forward)
    usable = gamma.pricable_mask(chain.strike, chain.expiry_years, chain.open_interest, chain.iv, chain.forward)
    strikes, call_gex, put_gex, net_gex = gamma.gex_by_strike(*args)
    by_strike = pa.table(
        {
            "snapshot_date": pa.array([day] * len(strikes), pa.date32()),
            "strike": strikes,
            "call_gex_usd": call_gex,
            "put_gex_usd": put_gex,
            "net_gex_usd": net_gex,
            "call_oi_btc": _per_strike_oi(strikes, chain, usable, calls=True),
            "put_oi_btc": _per_strike_oi(strikes, chain, usable, calls=False),
        },
        schema=BY_STRIKE_SCHEMA,
    )
    total = float(net_gex.sum())
    zero_gamma = None
    if np.isfinite(chain.spot) and chain.spot > 0 and usable.any():
        crossings = gamma.zero_gamma_levels(chain.spot, *args)
        zero_gamma = gamma.nearest_to_spot(crossings, chain.spot)
    summary = pa.table(
        {
            "snapshot_date": pa.array([day], pa.date32()),
            "spot_usd": [chain.spot],
            "total_net_gex_usd": [total],
            "zero_gamma_usd": pa.array([zero_gamma], pa.float64()),
            "call_wall_usd": pa.array([gamma.call_wall(strikes, call_gex)], pa.float64()),
            "put_wall_usd": pa.array([gamma.put_wall(strikes, put_gex)], pa.float64()),
            "regime": ["long_gamma" if total >= 0 else "short_gamma"],
            "gex_within_2pct_of_spot_usd": [
                gamma.gex_within_band(strikes, net_gex, chain.spot, NEAR_SPOT_BAND_PCT) if usable.any() else 0.0
            ],
            "rows_used": [int(usable.sum())],
            "rows_excluded": [int((~usable).sum())],
        },
        schema=SUMMARY_SCHEMA,
    )
    return by_strike, summary
