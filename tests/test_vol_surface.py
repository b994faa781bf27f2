"""The volatility-surface figures (pipelines/analytics/vol_surface.py) on chains whose answer is known, and the
audit that guards the tables (pipelines/checks/vol_checks.py). The real 2020-05-21 chain is checked against plain
loops in test_gamma_replay_real_chain.py; the demo's model term structure in test_end_to_end.py."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from pipelines.analytics.vol_surface import (
    DAILY_SCHEMA,
    SURFACE_SCHEMA,
    constant_maturity,
    day_smiles,
    forward_delta,
    vol_tables_for_day,
)
from pipelines.checks.vol_checks import vol_surface_sane
from pipelines.demo.market import MarketModel
from pipelines.demo.options import OptionChainModel

DAY = dt.date(2025, 11, 21)


def chain(rows: list[tuple]) -> pa.Table:
    """(currency, expiry, strike, 'call'|'put', mark_iv %, forward, years) rows as the asset reads them."""
    names = ("currency", "expiry_date", "strike", "option_type", "mark_iv", "forward_usd", "time_to_expiry_years")
    return pa.Table.from_pylist([dict(zip(names, r)) for r in rows])


def flat(currency: str, iv: float, forward: float, expiries_days: list[int], strikes: list[float]) -> list[tuple]:
    return [(currency, DAY + dt.timedelta(days=d), k, side, iv, forward, d / 365)
            for d in expiries_days for k in strikes for side in ("call", "put")]


def test_a_flat_smile_has_no_skew_and_a_flat_term_structure():
    strikes = [float(k) for k in range(40_000, 160_001, 2_000)]
    surface, daily = vol_tables_for_day(DAY, chain(flat("BTC", 55.0, 91_000.0, [3, 10, 40, 120], strikes)))
    assert surface.schema == SURFACE_SCHEMA and daily.schema == DAILY_SCHEMA
    assert surface.num_rows == 4
    for row in surface.to_pylist():
        assert row["atm_iv"] == row["call_25d_iv"] == row["put_25d_iv"] == pytest.approx(55.0, abs=1e-12)
        assert row["rr_25d"] == pytest.approx(0, abs=1e-12) and row["bf_25d"] == pytest.approx(0, abs=1e-12)
        assert row["strikes"] == len(strikes)
    (d,) = daily.to_pylist()
    assert (d["currency"], d["expiries"]) == ("BTC", 4)
    for name in ("atm_iv_7d", "atm_iv_30d", "atm_iv_90d"):
        assert d[name] == pytest.approx(55.0, abs=1e-12)
    assert d["term_slope_30_90"] == pytest.approx(0.0, abs=1e-12)


def test_forward_delta_is_black76():
    # N(d1) by math.erf, d1 = (ln(F/K) + s^2 T/2) / (s sqrt T)
    f, k, t, s = 90_000.0, 100_000.0, 0.1, 0.6
    d1 = (math.log(f / k) + s * s * t / 2) / (s * math.sqrt(t))
    n = 0.5 * (1 + math.erf(d1 / math.sqrt(2)))
    got = forward_delta(np.array([k, k]), np.array([t, t]), np.array([True, False]), np.array([s, s]),
                        np.array([f, f]))
    assert got[0] == pytest.approx(n, rel=1e-14) and got[1] == pytest.approx(n - 1, rel=1e-14)


def test_the_wings_are_read_at_25_delta_between_the_strikes_around_it():
    """A smile linear in strike: the 25-delta IV is the interpolation, in delta, between the strikes around it."""
    f, years = 100_000.0, 30 / 365
    strikes = np.arange(60_000.0, 140_001.0, 5_000.0)
    ivs = 60.0 - (strikes - f) / 2_000.0  # puts richer: 80 at 60k, 40 at 140k
    rows = [("BTC", DAY + dt.timedelta(days=30), float(k), side, float(v), f, years)
            for k, v in zip(strikes, ivs) for side in ("call", "put")]
    (s,) = day_smiles(chain(rows))["BTC"]
    assert s.atm_iv == pytest.approx(60.0, abs=1e-12)
    calls = [(float(forward_delta(np.array([k]), np.array([years]), np.array([True]), np.array([v / 100]),
                                  np.array([f]))[0]), v) for k, v in zip(strikes, ivs) if k >= f]
    (d0, v0), (d1, v1) = next((a, b) for a, b in zip(calls, calls[1:]) if a[0] > 0.25 >= b[0])
    assert s.call_25d_iv == pytest.approx(v0 + (v1 - v0) * (0.25 - d0) / (d1 - d0), rel=1e-12)
    assert s.put_25d_iv > s.atm_iv > s.call_25d_iv and s.rr_25d < 0


def test_what_the_chain_does_not_reach_is_null_not_extrapolated():
    # strikes all above the forward: no ATM, no put wing; strikes too close to the forward to reach 25 delta
    high = [("ETH", DAY + dt.timedelta(days=20), k, side, 70.0, 3_000.0, 20 / 365)
            for k in (3_100.0, 3_200.0, 3_300.0) for side in ("call", "put")]
    narrow = [("ETH", DAY + dt.timedelta(days=40), k, side, 70.0, 3_000.0, 40 / 365)
              for k in (2_950.0, 3_000.0, 3_050.0) for side in ("call", "put")]
    surface, daily = vol_tables_for_day(DAY, chain(high + narrow))
    rows = {r["expiry_date"]: r for r in surface.to_pylist()}
    first, second = rows[DAY + dt.timedelta(days=20)], rows[DAY + dt.timedelta(days=40)]
    assert first["atm_iv"] is None and first["put_25d_iv"] is None and first["rr_25d"] is None
    assert second["atm_iv"] == pytest.approx(70.0) and second["call_25d_iv"] is None and second["bf_25d"] is None
    (d,) = daily.to_pylist()
    # one expiry with an ATM IV: no pair around any tenor, so no constant maturity (never a flat extrapolation)
    assert (d["atm_iv_7d"], d["atm_iv_30d"], d["atm_iv_90d"], d["term_slope_30_90"]) == (None, None, None, None)


def test_same_day_expiries_stay_out_of_the_term_structure():
    strikes = [float(k) for k in range(50_000, 150_001, 1_000)]
    rows = [("BTC", DAY, k, side, 150.0, 90_000.0, 0.3 / 365) for k in strikes for side in ("call", "put")]
    rows += flat("BTC", 50.0, 90_000.0, [20, 60], strikes)
    smiles = day_smiles(chain(rows))["BTC"]
    assert [round(s.years * 365, 1) for s in smiles] == [0.3, 20, 60]
    atm30, _, _ = constant_maturity(smiles, 30)
    assert atm30 == pytest.approx(50.0, abs=1e-12)  # 20d and 60d at 50: the 150% same-day expiry plays no part
    assert constant_maturity(smiles, 7) == (None, None, None)  # 7 days lies between the same-day expiry and 20d


def test_total_variance_interpolation_between_two_expiries():
    strikes = [float(k) for k in range(50_000, 150_001, 1_000)]
    rows = flat("BTC", 40.0, 90_000.0, [10], strikes) + flat("BTC", 60.0, 90_000.0, [50], strikes)
    atm30, rr30, bf30 = constant_maturity(day_smiles(chain(rows))["BTC"], 30)
    t0, t1, t = 10 / 365, 50 / 365, 30 / 365
    w = (t - t0) / (t1 - t0)
    assert atm30 == pytest.approx(100 * math.sqrt(((1 - w) * 0.16 * t0 + w * 0.36 * t1) / t), rel=1e-12)
    assert rr30 == pytest.approx(0, abs=1e-12) and bf30 == pytest.approx(0, abs=1e-12)


def test_both_currencies_of_a_demo_day_have_a_surface_with_the_models_skew():
    """The demo's chain at a moment, straight from its model: ATM at 30 days within half a vol point of the model's,
    puts richer than calls (negative RR), a convex smile (positive BF), for BTC and ETH."""
    from pipelines.demo.ether import ETH_OPTIONS, EtherMarket

    market = MarketModel()
    now = dt.datetime(2025, 11, 21, 0, 0, 30)
    for model in (OptionChainModel(market), OptionChainModel(EtherMarket(market), ETH_OPTIONS)):
        rows = []
        for r in model.chain(now):
            cur, code, strike, cp = r["instrument_name"].split("-")
            expiry = dt.datetime.strptime(code, "%d%b%y").replace(hour=8)
            rows.append((cur, expiry.date(), float(strike), "call" if cp == "C" else "put", r["mark_iv"],
                         r["underlying_price"], (expiry - now).total_seconds() / (365 * 86400)))
        _, daily = vol_tables_for_day(DAY, chain(rows))
        (d,) = daily.to_pylist()
        want = 100 * float(model.atm_iv(now, np.array([30 / 365]))[0])
        assert d["currency"] == model.params.currency
        assert abs(d["atm_iv_30d"] - want) < 0.5, (d, want)
        assert d["rr_25d_30d"] < 0 < d["bf_25d_30d"]


def _tables(rows: list[tuple]) -> tuple[pa.Table, pa.Table]:
    return vol_tables_for_day(DAY, chain(rows))


def test_the_audit_passes_good_tables_and_names_what_is_wrong():
    strikes = [float(k) for k in range(40_000, 160_001, 2_000)]
    surface, daily = _tables(flat("BTC", 55.0, 91_000.0, [3, 10, 40, 120], strikes))
    ok = vol_surface_sane(surface, daily, {DAY: {"BTC"}})
    assert ok.passed, ok.description

    missing = vol_surface_sane(surface, daily, {DAY: {"BTC", "ETH"}})
    assert not missing.passed and f"no term-structure row for {DAY} ETH" in missing.description

    broken = surface.set_column(surface.schema.get_field_index("atm_iv"), "atm_iv",
                                pa.array([55.0, 5500.0, 55.0, float("nan")]))
    outcome = vol_surface_sane(broken, daily, {DAY: {"BTC"}})
    assert not outcome.passed
    assert "2 atm_iv outside (0, 500]" in outcome.description and "bf_25d" in outcome.description
