"""Tests for pipelines.analytics.gamma: textbook values, the real 2020-05-21 Deribit chain, random chains, edges.

The oracle below is a deliberately slow, separate implementation (plain loops, ``math`` only, the direct
Black-76 form on the moved forward F' = F L / S rather than the library's fast a/c/w form, ``math.fsum`` for
sums).  It never imports from the library.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.analytics import gamma as G

REL = 1e-9  # library vs oracle
TINY = 1e-250  # USD: absolute floor for totals that underflow to denormals (meaningless amounts anyway)

# ----------------------------------------------------------------------------------------------------------------
# the oracle: plain Python, math module only
# ----------------------------------------------------------------------------------------------------------------

# Deterministic hypothesis runs: fixed derivation of examples, no example database, no wall-clock deadline.
HYP = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def o_ok(k, t, oi, iv, f) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (k, t, oi, iv, f))


def o_term(level, spot, k, t, call, oi, iv, f, cs=1.0, long_calls=True) -> float:
    """GEX of one option (USD per 1%) with spot moved to ``level``: s * OI * cs * F' * phi(d1) * 0.01 / (iv sqrt T)."""
    fl = f * level / spot
    vol = iv * math.sqrt(t)
    d1 = (math.log(fl / k) + 0.5 * iv * iv * t) / vol
    phi = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    sign = (1.0 if call else -1.0) * (1.0 if long_calls else -1.0)
    return sign * oi * cs * fl * phi * 0.01 / vol


def o_rows(chain):
    for k, t, call, oi, iv, f in zip(chain["K"], chain["T"], chain["C"], chain["OI"], chain["IV"], chain["F"]):
        if o_ok(k, t, oi, iv, f):
            yield k, t, call, oi, iv, f


def o_level(level, spot, chain, long_calls=True):
    """(net GEX, sum of |GEX|) at one level."""
    terms = [o_term(level, spot, k, t, c, oi, iv, f, 1.0, long_calls) for k, t, c, oi, iv, f in o_rows(chain)]
    return math.fsum(terms), math.fsum(abs(x) for x in terms)


def o_by_strike(chain, long_calls=True):
    """{strike: (call, put, |call|+|put| terms)} at today's forwards."""
    acc: dict[float, tuple[list, list]] = {}
    for k, t, c, oi, iv, f in o_rows(chain):
        g = o_term(1.0, 1.0, k, t, c, oi, iv, f, 1.0, long_calls)
        acc.setdefault(k, ([], []))[0 if c else 1].append(g)
    return {k: (math.fsum(cs), math.fsum(ps), math.fsum(abs(x) for x in cs + ps)) for k, (cs, ps) in sorted(acc.items())}


def o_crossings(spot, chain, lo=0.5, hi=1.5, n=801, long_calls=True):
    """Sign changes of the profile on an n-point log grid, each bisected to 1e-13 relative."""
    f = lambda L: o_level(L, spot, chain, long_calls)[0]  # noqa: E731
    grid = [spot * lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    vals = [f(L) for L in grid]
    out = []
    prev = None
    for L, v in zip(grid, vals):
        if v == 0.0:
            continue
        if prev is not None and (prev[1] > 0) != (v > 0):
            a, fa, b = prev[0], prev[1], L
            while b - a > 1e-13 * a:
                m = 0.5 * (a + b)
                fm = f(m)
                if fm == 0.0:
                    a = b = m
                    break
                if (fm > 0) == (fa > 0):
                    a, fa = m, fm
                else:
                    b = m
            out.append(0.5 * (a + b))
        prev = (L, v)
    return out


def lib_args(chain):
    return (
        np.array(chain["K"], float),
        np.array(chain["T"], float),
        np.array(chain["C"], bool),
        np.array(chain["OI"], float),
        np.array(chain["IV"], float),
        np.array(chain["F"], float),
    )


def close(lib: float, ora: float, scale: float) -> bool:
    return abs(lib - ora) <= REL * max(abs(ora), scale) + TINY


def chain_of(rows):
    """rows of (K, T, is_call, OI, iv, F) -> column dict."""
    cols = list(zip(*rows)) if rows else [(), (), (), (), (), ()]
    return dict(zip(("K", "T", "C", "OI", "IV", "F"), (list(c) for c in cols)))


# ----------------------------------------------------------------------------------------------------------------
# textbook values
# ----------------------------------------------------------------------------------------------------------------


def test_black76_textbook_hull_forward():
    # gamma.md: Black-76 with F=49, r=0, K=50, sigma=20%, T=0.3846 gives 0.0653085558
    assert G.black76_gamma(49.0, 50.0, 0.3846, 0.20) == pytest.approx(0.0653085558, abs=5e-11)


@pytest.mark.parametrize(
    ("S", "K", "r", "T", "sigma", "expected", "tol"),
    [
        (49.0, 50.0, 0.05, 0.3846, 0.20, 0.0655453772525, 1e-12),  # Hull's example
        (55.0, 60.0, 0.10, 0.75, 0.30, 0.02782116, 5e-9),  # QuantLib / Haug
    ],
)
def test_black_scholes_gamma_from_black76(S, K, r, T, sigma, expected, tol):
    # BS price = exp(-rT) * B76(F = S exp(rT)); dF/dS = exp(rT) twice -> Gamma_S = exp(rT) * Gamma_F(F).
    F = S * math.exp(r * T)
    assert math.exp(r * T) * G.black76_gamma(F, K, T, sigma) == pytest.approx(expected, abs=tol)


def test_black76_gamma_is_second_derivative_of_price():
    def price(F, K, T, s, call):
        v = s * math.sqrt(T)
        d1 = (math.log(F / K) + v * v / 2) / v
        N = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
        return F * N(d1) - K * N(d1 - v) if call else K * N(v - d1) - F * N(-d1)

    for F, K, T, s in [(9000.0, 9500.0, 0.02, 0.8), (9000.0, 6000.0, 0.5, 1.1), (100.0, 100.0, 1.0, 0.3)]:
        h = F * 1e-3
        fd = (price(F + h, K, T, s, True) - 2 * price(F, K, T, s, True) + price(F - h, K, T, s, True)) / h**2
        assert G.black76_gamma(F, K, T, s) == pytest.approx(fd, rel=1e-5)
    # vectorised, and NaN (not an exception) for an unpricable element
    g = G.black76_gamma(np.array([49.0, 49.0, 49.0]), 50.0, np.array([0.3846, 0.0, 0.3846]), np.array([0.2, 0.2, np.nan]))
    assert g[0] == pytest.approx(0.0653085558, abs=5e-11) and np.isnan(g[1]) and np.isnan(g[2])


def test_option_gex_equals_gamma_times_f_squared():
    # gamma.md's two forms: s * Gamma * OI * cs * F^2 * 0.01 == s * OI * cs * F * phi(d1) * 0.01 / (sigma sqrt T)
    K = np.array([8000.0, 9000.0, 10000.0])
    T = np.array([0.01, 0.1, 0.5])
    F = np.array([9050.0, 9060.0, 9100.0])
    iv = np.array([0.9, 0.7, 0.6])
    oi = np.array([10.0, 20.0, 30.0])
    C = np.array([True, False, True])
    g = G.option_gex(K, T, C, oi, iv, F, contract_size=1.0)
    expected = np.where(C, 1, -1) * G.black76_gamma(F, K, T, iv) * oi * F**2 * 0.01
    np.testing.assert_allclose(g, expected, rtol=1e-13)
    np.testing.assert_allclose(G.option_gex(K, T, C, oi, iv, F, contract_size=10.0), 10 * g, rtol=1e-15)


# ----------------------------------------------------------------------------------------------------------------
# the real chain of 2020-05-21
# ----------------------------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_YEAR_MS = 365 * 86_400_000


def _expiry_ms(code: str) -> int:
    """'22MAY20' / '5JUN20' (day not zero-padded) -> 08:00 UTC that day, in ms."""
    day, mon, yy = int(code[:-5]), _MONTHS[code[-5:-2]], 2000 + int(code[-2:])
    return int(dt.datetime(yy, mon, day, 8, tzinfo=dt.timezone.utc).timestamp()) * 1000


def _load_chain(path: Path, stamp_ms: int | None = None):
    rows = json.loads(path.read_text())["result"]
    chain = {"K": [], "T": [], "C": [], "OI": [], "IV": [], "F": [], "expiry": [], "raw": rows}
    for r in rows:
        _, exp, strike, cp = r["instrument_name"].split("-")
        now = r["creation_timestamp"] if stamp_ms is None else stamp_ms
        chain["K"].append(float(strike))
        chain["T"].append((_expiry_ms(exp) - now) / _YEAR_MS)
        chain["C"].append(cp == "C")
        chain["OI"].append(float(r["open_interest"]))
        chain["IV"].append(r["mark_iv"] / 100.0 if r["mark_iv"] is not None else math.nan)
        chain["F"].append(r["underlying_price"] if r["underlying_price"] is not None else math.nan)
        chain["expiry"].append(exp)
    # spot: the index as of the chain's newest row
    chain["spot"] = max(rows, key=lambda r: r["creation_timestamp"])["estimated_delivery_price"]
    return chain


@pytest.fixture(scope="module")
def real_chain(real_fixtures):
    return _load_chain(real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json")


# Pinned from the oracle above (o_by_strike / o_level / o_crossings on this chain), computed once and written
# here; spot = 9081.63 (estimated_delivery_price of the newest row).
REAL_SPOT = 9081.63
REAL_ROWS, REAL_PRICABLE = 326, 257  # 69 rows have open_interest 0
REAL_NET_GEX_AT_SPOT = 587754.0773019323  # USD per 1% move: dealers net long gamma at spot
REAL_CALL_WALL = 9000.0
REAL_PUT_WALL = 9000.0
REAL_ZERO_GAMMA = [8886.822302019598]  # USD: the only sign change in 0.5x..1.5x spot


def test_real_chain_greeks_or_mark_price(real_chain):
    rows = real_chain["raw"]
    with_greeks = [r for r in rows if isinstance(r.get("greeks"), dict) and r["greeks"].get("gamma") is not None]
    for r, k, t, iv, f in zip(rows, real_chain["K"], real_chain["T"], real_chain["IV"], real_chain["F"]):
        if r in with_greeks:  # gamma.md: Deribit's 5-dp gamma reproduced on the forward within 5e-6
            assert abs(G.black76_gamma(f, k, t, iv) - r["greeks"]["gamma"]) <= 5e-6, r["instrument_name"]
    # This recording (public/get_book_summary_by_currency) carries no greeks, so check the same inputs against
    # what it does carry: Deribit's mark_price (BTC) is Black-76 on (underlying_price, mark_iv, T) divided by the
    # forward, up to a ~$2 forward move between the mark and the underlying snapshot and mark_iv's 0.01 rounding.
    N = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    worst = 0.0
    for r, k, t, c, iv, f in zip(rows, real_chain["K"], real_chain["T"], real_chain["C"], real_chain["IV"], real_chain["F"]):
        v = iv * math.sqrt(t)
        d1 = (math.log(f / k) + v * v / 2) / v
        usd = f * N(d1) - k * N(d1 - v) if c else k * N(v - d1) - f * N(-d1)
        delta = N(d1) - (0.0 if c else 1.0)
        vega = f * math.sqrt(t) * math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
        err = abs(usd - r["mark_price"] * f)
        worst = max(worst, err / (abs(delta) * 2.5 + vega * 0.5e-4 + 1e-8 * f))
    assert worst <= 1.0
    assert not with_greeks or len(with_greeks) == len(rows)


def test_real_chain_by_strike_matches_oracle(real_chain):
    args = lib_args(real_chain)
    assert len(args[0]) == REAL_ROWS
    assert int(G.pricable_mask(args[0], args[1], args[3], args[4], args[5]).sum()) == REAL_PRICABLE
    strikes, call_g, put_g, net_g = G.gex_by_strike(*args)
    ora = o_by_strike(real_chain)
    assert strikes.tolist() == list(ora)
    total_scale = math.fsum(v[2] for v in ora.values())
    for k, cg, pg, ng in zip(strikes, call_g, put_g, net_g):
        oc, op, sc = ora[k]
        assert close(cg, oc, sc) and close(pg, op, sc) and close(ng, oc + op, sc)
    net = math.fsum(oc + op for oc, op, _ in ora.values())
    assert close(float(net_g.sum()), net, total_scale)
    assert np.all(call_g >= 0) and np.all(put_g <= 0)  # standard convention: calls add, puts subtract


def test_real_chain_profile_matches_oracle(real_chain):
    spot = real_chain["spot"]
    assert spot == REAL_SPOT
    levels = [spot * (0.5 + 0.025 * i) for i in range(41)] + [spot]
    prof = G.gex_profile(levels, spot, *lib_args(real_chain))
    for L, p in zip(levels, prof):
        o, scale = o_level(L, spot, real_chain)
        assert close(p, o, scale), L
    # the profile at spot is the by-strike total
    assert prof[-1] == pytest.approx(G.gex_by_strike(*lib_args(real_chain))[3].sum(), rel=1e-12)


def test_real_chain_crossings_match_oracle(real_chain):
    spot = real_chain["spot"]
    got = G.zero_gamma_levels(spot, *lib_args(real_chain))
    ora = o_crossings(spot, real_chain, n=1001)
    assert len(got) == len(ora) >= 1
    for g, o in zip(got, ora):
        assert abs(g - o) <= REL * o
        assert o_level(g - 0.5, spot, real_chain)[0] * o_level(g + 0.5, spot, real_chain)[0] < 0


def test_real_chain_pinned_figures(real_chain):
    spot = real_chain["spot"]
    args = lib_args(real_chain)
    strikes, call_g, put_g, net_g = G.gex_by_strike(*args)
    assert float(net_g.sum()) == pytest.approx(REAL_NET_GEX_AT_SPOT, rel=1e-9)
    assert G.call_wall(strikes, call_g) == REAL_CALL_WALL
    assert G.put_wall(strikes, put_g) == REAL_PUT_WALL
    zg = G.zero_gamma_levels(spot, *args)
    np.testing.assert_allclose(zg, REAL_ZERO_GAMMA, rtol=1e-9)
    assert G.nearest_to_spot(zg, spot) == pytest.approx(REAL_ZERO_GAMMA[0], rel=1e-9)
    # below the flip dealers are short gamma, above it long
    levels = spot * np.linspace(0.5, 1.5, 201)
    bands = G.regime_bands(levels, G.gex_profile(levels, spot, *args))
    assert [b.regime for b in bands] == ["short_gamma", "long_gamma"]
    assert bands[0].high < REAL_ZERO_GAMMA[0] < bands[1].low


def test_real_chain_restamped_at_expiry_drops_that_expiry(real_fixtures, real_chain):
    # Snapshot at exactly 08:00 UTC on 22 May 2020: the 22MAY20 options have T == 0 and must be excluded
    # (and counted), not priced and not NaN.
    path = real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json"
    for stamp in (_expiry_ms("22MAY20"), _expiry_ms("22MAY20") + 3_600_000):
        ch = _load_chain(path, stamp_ms=stamp)
        K, T, C, OI, IV, F = lib_args(ch)
        mask = G.pricable_mask(K, T, OI, IV, F)
        expected_out = [e == "22MAY20" or oi <= 0 for e, oi in zip(ch["expiry"], ch["OI"])]
        assert (~mask).tolist() == expected_out
        assert sum(e == "22MAY20" and oi > 0 for e, oi in zip(ch["expiry"], ch["OI"])) > 0
        keep = np.array([not x for x in expected_out])
        full = G.gex_by_strike(K, T, C, OI, IV, F)
        kept = G.gex_by_strike(K[keep], T[keep], C[keep], OI[keep], IV[keep], F[keep])
        for a, b in zip(full, kept):
            np.testing.assert_array_equal(a, b)
        spot = ch["spot"]
        prof = G.gex_profile(spot * np.linspace(0.5, 1.5, 11), spot, K, T, C, OI, IV, F)
        assert np.all(np.isfinite(prof))
        zg = G.zero_gamma_levels(spot, K, T, C, OI, IV, F)
        assert np.all(np.isfinite(zg))


# ----------------------------------------------------------------------------------------------------------------
# random chains
# ----------------------------------------------------------------------------------------------------------------

SPOT = 10_000.0
STRIKES = [5000.0, 7000.0, 8000.0, 9000.0, 9500.0, 10000.0, 10500.0, 11000.0, 12000.0, 15000.0, 20000.0]


def _row(wide: bool):
    t = st.floats(1 / 365 / 24, 1.0) if wide else st.floats(7 / 365, 1.0)
    iv = st.floats(0.1, 2.5) if wide else st.floats(0.4, 1.5)
    k = st.sampled_from(STRIKES if wide else STRIKES[2:-2])
    oi = st.one_of(st.just(0.0), st.floats(0.1, 2000.0)) if wide else st.floats(0.1, 2000.0)
    f = st.floats(SPOT * 0.98, SPOT * 1.06)
    row = st.tuples(k, t, st.booleans(), oi, iv, f)
    if not wide:
        return row
    bad = st.tuples(k, st.sampled_from([-0.01, 0.0, math.nan]), st.booleans(), oi, st.sampled_from([math.nan, 0.0, -0.3]), f)
    return st.one_of(row, row, row, bad)


@settings(HYP, max_examples=100)
@given(st.lists(_row(wide=True), min_size=1, max_size=25), st.booleans())
def test_random_chain_by_strike_and_profile(rows, long_calls):
    chain = chain_of(rows)
    args = lib_args(chain)
    strikes, cg, pg, ng = G.gex_by_strike(*args, dealer_long_calls=long_calls)
    ora = o_by_strike(chain, long_calls)
    assert strikes.tolist() == list(ora)
    for k, c, p, n in zip(strikes, cg, pg, ng):
        oc, op, sc = ora[k]
        assert close(c, oc, sc) and close(p, op, sc) and close(n, oc + op, sc)
    levels = [SPOT * x for x in (0.5, 0.7, 0.9, 0.97, 1.0, 1.03, 1.1, 1.3, 1.5)]
    prof = G.gex_profile(levels, SPOT, *args, dealer_long_calls=long_calls)
    assert np.all(np.isfinite(prof))
    for L, p in zip(levels, prof):
        o, scale = o_level(L, SPOT, chain, long_calls)
        assert close(p, o, scale)
    # the mask counts exactly the rows the oracle skips
    assert int((~G.pricable_mask(args[0], args[1], args[3], args[4], args[5])).sum()) == len(rows) - len(list(o_rows(chain)))


@settings(HYP, max_examples=80)
@given(st.lists(_row(wide=False), min_size=1, max_size=12))
def test_random_chain_crossings(rows):
    chain = chain_of(rows)
    got = G.zero_gamma_levels(SPOT, *lib_args(chain))
    assert np.all(np.diff(got) > 0) and np.all((got >= 0.5 * SPOT) & (got <= 1.5 * SPOT))
    # every crossing the (coarser) oracle scan finds is one of the library's, to 1e-9 relative
    for o in o_crossings(SPOT, chain, n=301):
        assert np.min(np.abs(got - o)) <= REL * o
    # every crossing the library reports is a real sign change of the oracle profile
    for g in got:
        d = 1e-6 * g
        lo, hi = o_level(g - d, SPOT, chain)[0], o_level(g + d, SPOT, chain)[0]
        assert lo * hi <= 0 or abs(o_level(g, SPOT, chain)[0]) <= REL * o_level(g, SPOT, chain)[1]


# ----------------------------------------------------------------------------------------------------------------
# edge cases
# ----------------------------------------------------------------------------------------------------------------

T7 = 7 / 365


def test_single_option():
    chain = chain_of([(10_000.0, T7, True, 50.0, 0.6, 10_020.0)])
    strikes, cg, pg, ng = G.gex_by_strike(*lib_args(chain))
    assert strikes.tolist() == [10_000.0] and pg.tolist() == [0.0]
    assert cg[0] == pytest.approx(o_by_strike(chain)[10_000.0][0], rel=REL) and ng[0] == cg[0] > 0
    assert G.zero_gamma_levels(SPOT, *lib_args(chain)).size == 0
    assert G.call_wall(strikes, cg) == 10_000.0 and G.put_wall(strikes, pg) is None


@pytest.mark.parametrize("long_calls", [True, False])
def test_all_calls_and_all_puts_never_cross(long_calls):
    for is_call in (True, False):
        chain = chain_of([(k, t, is_call, 100.0, 0.7, SPOT * 1.01) for k in STRIKES for t in (T7, 0.25)])
        args = lib_args(chain)
        assert G.zero_gamma_levels(SPOT, *args, dealer_long_calls=long_calls).size == 0
        prof = G.gex_profile(SPOT * np.linspace(0.5, 1.5, 51), SPOT, *args, dealer_long_calls=long_calls)
        assert np.all(prof > 0) if is_call == long_calls else np.all(prof < 0)


def test_several_crossings():
    # Alternating bumps: short gamma at 8000 and 10000 (puts), long gamma at 9000 and 11000 (calls).
    chain = chain_of(
        [
            (8000.0, T7, False, 300.0, 0.3, SPOT),
            (9000.0, T7, True, 300.0, 0.3, SPOT),
            (10000.0, T7, False, 300.0, 0.3, SPOT),
            (11000.0, T7, True, 300.0, 0.3, SPOT),
        ]
    )
    args = lib_args(chain)
    got = G.zero_gamma_levels(SPOT, *args)
    assert len(got) >= 3
    ora = o_crossings(SPOT, chain, n=801)
    assert len(ora) == len(got)
    np.testing.assert_allclose(got, ora, rtol=REL)
    for g in got:  # a sign change within $1, by the library's own profile and by the oracle
        lib = G.gex_profile([g - 1.0, g + 1.0], SPOT, *args)
        assert lib[0] * lib[1] < 0
        assert o_level(g - 1.0, SPOT, chain)[0] * o_level(g + 1.0, SPOT, chain)[0] < 0
    assert G.nearest_to_spot(got, SPOT) == got[np.argmin(np.abs(got - SPOT))]
    levels = SPOT * np.linspace(0.5, 1.5, 1001)
    bands = G.regime_bands(levels, G.gex_profile(levels, SPOT, *args))
    assert len(bands) == len(got) + 1
    assert all(a.regime != b.regime for a, b in zip(bands, bands[1:]))
    assert all(a.high < g < b.low for a, b, g in zip(bands, bands[1:], got))


def test_no_crossing_returns_empty_not_error():
    # A put far below spot and a big call near it: net long gamma over the whole 0.5x..1.5x range.
    chain = chain_of([(5000.0, 0.5, False, 1.0, 0.5, SPOT), (10_000.0, 0.5, True, 1000.0, 0.5, SPOT)])
    got = G.zero_gamma_levels(SPOT, *lib_args(chain))
    assert isinstance(got, np.ndarray) and got.size == 0
    assert G.nearest_to_spot(got, SPOT) is None


def test_exact_zero_profile_and_zero_runs():
    # Identical call and put: profile exactly 0 everywhere -> no sign change.
    flat = chain_of([(10_000.0, T7, True, 10.0, 0.6, SPOT), (10_000.0, T7, False, 10.0, 0.6, SPOT)])
    assert np.all(G.gex_profile(SPOT * np.linspace(0.5, 1.5, 101), SPOT, *lib_args(flat)) == 0.0)
    assert G.zero_gamma_levels(SPOT, *lib_args(flat)).size == 0
    # One-hour options at 6000 (call) and 14000 (put): gamma underflows to exactly 0 in between, so the
    # sign change sits in a run of exact zeros; one crossing, on a grid level where the profile is exactly 0.
    gap = chain_of([(6000.0, 1 / 8760, True, 10.0, 0.5, SPOT), (14000.0, 1 / 8760, False, 10.0, 0.5, SPOT)])
    got = G.zero_gamma_levels(SPOT, *lib_args(gap))
    assert len(got) == 1 and 6000.0 < got[0] < 14000.0
    assert G.gex_profile(got, SPOT, *lib_args(gap))[0] == 0.0
    assert o_level(5999.0, SPOT, gap)[0] > 0 > o_level(14001.0, SPOT, gap)[0]
    # the scan's sign-change finder: a single exact zero between opposite signs is itself the crossing;
    # a zero touch between equal signs is not a crossing
    assert G._sign_changes(np.array([1.0, 0.0, -1.0, -2.0])) == [(0, 2, 1)]
    assert G._sign_changes(np.array([1.0, 0.0, 0.0, 0.0, -1.0])) == [(0, 4, 2)]
    assert G._sign_changes(np.array([1.0, 0.0, 1.0, -1.0])) == [(2, 3, None)]
    assert G._sign_changes(np.array([0.0, 0.0])) == []


def test_unpricable_rows_are_excluded_not_nan():
    good = [(9000.0, T7, True, 50.0, 0.6, SPOT), (11000.0, 0.1, False, 80.0, 0.7, SPOT)]
    bad = [
        (9500.0, T7, True, 0.0, 0.6, SPOT),  # zero OI
        (9500.0, T7, False, 10.0, math.nan, SPOT),  # missing IV
        (9500.0, T7, False, 10.0, 0.0, SPOT),  # iv 0
        (9500.0, -0.001, True, 10.0, 0.6, SPOT),  # expired
        (9500.0, 0.0, True, 10.0, 0.6, SPOT),  # expiring now
        (9500.0, T7, True, 10.0, 0.6, math.nan),  # missing forward
        (math.nan, T7, True, 10.0, 0.6, SPOT),  # missing strike
        (9500.0, T7, True, math.inf, 0.6, SPOT),  # nonsense OI
    ]
    mixed = lib_args(chain_of(good[:1] + bad + good[1:]))
    clean = lib_args(chain_of(good))
    mask = G.pricable_mask(mixed[0], mixed[1], mixed[3], mixed[4], mixed[5])
    assert mask.tolist() == [True] + [False] * len(bad) + [True]
    for a, b in zip(G.gex_by_strike(*mixed), G.gex_by_strike(*clean)):
        np.testing.assert_array_equal(a, b)
    levels = SPOT * np.linspace(0.5, 1.5, 21)
    np.testing.assert_array_equal(G.gex_profile(levels, SPOT, *mixed), G.gex_profile(levels, SPOT, *clean))
    np.testing.assert_array_equal(G.zero_gamma_levels(SPOT, *mixed), G.zero_gamma_levels(SPOT, *clean))
    assert G.option_gex(*mixed)[1:-1].tolist() == [0.0] * len(bad)
    # nothing pricable at all: empty / zero, never NaN
    only_bad = lib_args(chain_of(bad))
    s, c, p, n = G.gex_by_strike(*only_bad)
    assert s.size == c.size == p.size == n.size == 0
    assert G.gex_profile(levels, SPOT, *only_bad).tolist() == [0.0] * len(levels)
    assert G.zero_gamma_levels(SPOT, *only_bad).size == 0


def test_dealer_convention_flips_every_sign():
    chain = chain_of([(k, t, c, 40.0 + k / 1000, 0.5 + t, SPOT * 1.01) for k in STRIKES for t in (T7, 0.3) for c in (True, False)])
    args = lib_args(chain)
    std = G.gex_by_strike(*args)
    flip = G.gex_by_strike(*args, dealer_long_calls=False)
    np.testing.assert_array_equal(std[0], flip[0])
    for a, b in zip(std[1:], flip[1:]):
        np.testing.assert_array_equal(a, -b)
    levels = SPOT * np.linspace(0.5, 1.5, 31)
    np.testing.assert_array_equal(G.gex_profile(levels, SPOT, *args), -G.gex_profile(levels, SPOT, *args, dealer_long_calls=False))
    np.testing.assert_allclose(
        G.zero_gamma_levels(SPOT, *args), G.zero_gamma_levels(SPOT, *args, dealer_long_calls=False), rtol=1e-12
    )
    # walls rank by magnitude, so they do not depend on the convention
    assert G.call_wall(std[0], std[1]) == G.call_wall(flip[0], flip[1])
    assert G.put_wall(std[0], std[2]) == G.put_wall(flip[0], flip[2])


def test_blocked_processing_matches_single_block_and_oracle():
    rng = np.random.default_rng(7)
    n = 3000
    K = rng.choice(np.arange(4000.0, 20001.0, 250.0), n)
    T = rng.uniform(1 / 365, 1.0, n)
    C = rng.random(n) < 0.5
    OI = rng.uniform(0.0, 500.0, n)
    IV = rng.uniform(0.3, 1.5, n)
    F = SPOT * rng.uniform(0.99, 1.05, n)
    levels = SPOT * np.linspace(0.5, 1.5, 301)  # 3000 x 301 doubles = 7.2 MB: several default 1 MiB blocks
    assert n * len(levels) * 8 > 4 * G.DEFAULT_BLOCK_BYTES
    default = G.gex_profile(levels, SPOT, K, T, C, OI, IV, F)
    one_block = G.gex_profile(levels, SPOT, K, T, C, OI, IV, F, block_bytes=n * len(levels) * 8)
    tiny = G.gex_profile(levels, SPOT, K, T, C, OI, IV, F, block_bytes=4096)  # odd-sized edge blocks too
    single_level_blocks = G.gex_profile(levels, SPOT, K, T, C, OI, IV, F, block_bytes=64 * 8)  # 64 x 1 blocks
    scale = np.abs(one_block).max()
    for other in (default, tiny, single_level_blocks):
        np.testing.assert_allclose(other, one_block, rtol=1e-12, atol=1e-12 * scale)
    chain = {"K": K.tolist(), "T": T.tolist(), "C": C.tolist(), "OI": OI.tolist(), "IV": IV.tolist(), "F": F.tolist()}
    for j in (0, 97, 150, 300):
        o, sc = o_level(float(levels[j]), SPOT, chain)
        assert close(float(tiny[j]), o, sc) and close(float(default[j]), o, sc)


# ----------------------------------------------------------------------------------------------------------------
# helpers and validation
# ----------------------------------------------------------------------------------------------------------------


def test_walls_and_band_and_nearest():
    strikes = np.array([8000.0, 9000.0, 10000.0, 11000.0])
    assert G.call_wall(strikes, [1.0, 5.0, 5.0, 2.0]) == 9000.0  # tie -> lower strike
    assert G.call_wall(strikes, [0.0, 0.0, 0.0, 0.0]) is None
    assert G.call_wall([], []) is None
    assert G.put_wall(strikes, [-3.0, -1.0, -7.0, 0.0]) == 10000.0
    assert G.put_wall(strikes, np.zeros(4)) is None
    net = np.array([-3.0, 2.0, -7.0, 4.0])
    assert G.gex_within_band(strikes, net, 10_000.0, 10.0) == 2.0 + 7.0 + 4.0  # 9000 and 11000 on the edges
    assert G.gex_within_band(strikes, net, 10_000.0, 5.0) == 7.0
    assert G.gex_within_band(strikes, net, 30_000.0, 5.0) == 0.0
    assert G.nearest_to_spot([8500.0, 9400.0, 12000.0], 9000.0) == 9400.0
    assert G.nearest_to_spot(np.array([]), 9000.0) is None


def test_regime_bands():
    levels = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    prof = np.array([-2.0, -1.0, 0.0, 1.0, 3.0, -1.0, np.nan])
    assert G.regime_bands(levels, prof) == [
        G.RegimeBand(1.0, 2.0, "short_gamma"),
        G.RegimeBand(4.0, 5.0, "long_gamma"),
        G.RegimeBand(6.0, 6.0, "short_gamma"),
    ]
    assert G.regime_bands([], []) == []
    with pytest.raises(ValueError, match="ascending"):
        G.regime_bands([2.0, 1.0], [1.0, 1.0])


def test_validation_errors():
    K, T, C, OI, IV, F = lib_args(chain_of([(9000.0, T7, True, 1.0, 0.5, SPOT), (9500.0, T7, False, 1.0, 0.5, SPOT)]))
    with pytest.raises(ValueError, match="same length.*open_interest=1"):
        G.gex_by_strike(K, T, C, OI[:1], IV, F)
    with pytest.raises(ValueError, match="same length"):
        G.gex_profile([SPOT], SPOT, K, T, C[:1], OI, IV, F)
    with pytest.raises(ValueError, match="same length"):
        G.zero_gamma_levels(SPOT, K, T, C, OI, IV, F[:1])
    with pytest.raises(ValueError, match="same length"):
        G.pricable_mask(K, T[:1], OI, IV, F)
    with pytest.raises(ValueError, match="same length"):
        G.call_wall([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="is_call"):
        G.gex_by_strike(K, T, np.array(["C", "P"]), OI, IV, F)
    with pytest.raises(ValueError, match="spot"):
        G.gex_profile([SPOT], -1.0, K, T, C, OI, IV, F)
    with pytest.raises(ValueError, match="levels"):
        G.gex_profile([SPOT, math.nan], SPOT, K, T, C, OI, IV, F)
    with pytest.raises(ValueError, match="lo < hi"):
        G.zero_gamma_levels(SPOT, K, T, C, OI, IV, F, lo=1.5, hi=0.5)
    with pytest.raises(ValueError, match="contract_size"):
        G.gex_by_strike(K, T, C, OI, IV, F, contract_size=0.0)
    with pytest.raises(ValueError, match="pct"):
        G.gex_within_band(K, OI, SPOT, -1.0)


# ----------------------------------------------------------------------------------------------------------------
# profile + crossings on a caller's grid, and regime bands with exact edges (added with the gamma tables)
# ----------------------------------------------------------------------------------------------------------------


def test_real_chain_profile_crossings_on_a_500_level_grid(real_chain):
    spot = real_chain["spot"]
    args = lib_args(real_chain)
    levels = spot * np.linspace(0.5, 1.5, 500)
    prof, crossings = G.gex_profile_crossings(levels, spot, *args)
    np.testing.assert_array_equal(prof, G.gex_profile(levels, spot, *args))
    np.testing.assert_allclose(crossings, REAL_ZERO_GAMMA, rtol=REL)
    for j in (0, 123, 250, 499):
        o, scale = o_level(float(levels[j]), spot, real_chain)
        assert close(float(prof[j]), o, scale)


def test_real_chain_regimes_tile_the_range_with_the_crossings_as_edges(real_chain):
    spot = real_chain["spot"]
    regimes = G.gamma_regimes(spot, *lib_args(real_chain))
    np.testing.assert_array_equal(regimes.crossings, G.zero_gamma_levels(spot, *lib_args(real_chain)))
    assert regimes.bands == [
        G.RegimeBand(0.5 * spot, float(regimes.crossings[0]), "short_gamma"),
        G.RegimeBand(float(regimes.crossings[0]), 1.5 * spot, "long_gamma"),
    ]


@settings(HYP, max_examples=60)
@given(st.lists(_row(wide=False), min_size=1, max_size=12), st.booleans())
def test_random_chain_regime_bands_agree_with_the_oracle(rows, long_calls):
    chain = chain_of(rows)
    regimes = G.gamma_regimes(SPOT, *lib_args(chain), dealer_long_calls=long_calls)
    bands = regimes.bands
    assert bands[0].low == 0.5 * SPOT and bands[-1].high == 1.5 * SPOT
    assert [b.low for b in bands[1:]] == [b.high for b in bands[:-1]] == regimes.crossings.tolist()
    assert all(a.regime != b.regime for a, b in zip(bands, bands[1:]))
    for b in bands:  # the oracle's sign inside each band (away from its edges) is the band's regime
        for f in (0.1, 0.5, 0.9):
            L = b.low + f * (b.high - b.low)
            o, scale = o_level(L, SPOT, chain, long_calls)
            if abs(o) > 1e-9 * scale:
                assert (o > 0) == (b.regime == "long_gamma"), (b, L)


def test_profile_crossings_edge_cases():
    chain = chain_of([(9000.0, T7, True, 300.0, 0.3, SPOT), (10000.0, T7, False, 300.0, 0.3, SPOT)])
    args = lib_args(chain)
    levels = SPOT * np.linspace(0.5, 1.5, 201)
    prof, crossings = G.gex_profile_crossings(levels, SPOT, *args)
    assert len(crossings) == 1 and prof[0] > 0 > prof[-1]
    np.testing.assert_allclose(crossings, G.zero_gamma_levels(SPOT, *args), rtol=REL)
    empty_prof, none = G.gex_profile_crossings(levels, SPOT, *lib_args(chain_of([(9000.0, T7, True, 0.0, 0.3, SPOT)])))
    assert none.size == 0 and np.all(empty_prof == 0.0)
    assert G.gamma_regimes(SPOT, *lib_args(chain_of([(9000.0, T7, True, 0.0, 0.3, SPOT)]))) == (
        pytest.approx(np.empty(0)), [])
    with pytest.raises(ValueError, match="ascending"):
        G.gex_profile_crossings(levels[::-1], SPOT, *args)
    with pytest.raises(ValueError, match="block_bytes"):
        G.gex_profile_crossings(levels, SPOT, *args, block_bytes=4)


def test_matched_call_put_book_has_an_exactly_zero_profile():
    # Calls and puts with identical inputs cancel exactly at every level, whatever the blocking: the kernel sums
    # positive and negative terms separately (no fused multiply-add residue), so no spurious crossing appears.
    rng = np.random.default_rng(11)
    rows = []
    for _ in range(40):
        k, t, oi, iv, f = rng.choice(STRIKES), rng.uniform(T7, 1.0), rng.uniform(1, 500), rng.uniform(0.3, 1.2), SPOT
        rows += [(k, t, True, oi, iv, f), (k, t, False, oi, iv, f)]
    args = lib_args(chain_of(rows))
    levels = SPOT * np.linspace(0.5, 1.5, 301)
    for block in (G.DEFAULT_BLOCK_BYTES, 4096, 64):
        assert np.all(G.gex_profile(levels, SPOT, *args, block_bytes=block) == 0.0)
    assert G.zero_gamma_levels(SPOT, *args).size == 0 and G.gamma_regimes(SPOT, *args).bands == []
