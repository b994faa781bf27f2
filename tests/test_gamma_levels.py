"""Gamma around levels, below the flip, and under stated assumptions (issue 18), against plain loops.

The real Deribit chain of 2020-05-21 (326 rows, 257 pricable; spot $9,081.63, the only zero-gamma crossing at
$8,886.82) goes through gamma_daily.gamma_day as the asset runs it; every figure of the new tables is recomputed here
by the oracle of test_gamma_library.py (the Black-76 GEX of one option in the math module, summed in Python loops)
and by loops written out below for the band, zone, target and event rules. The 22MAY20 expiry of that chain is 8.7
hours away from the snapshot (23:19 UTC): the chain's same-day expiry.
"""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pyarrow as pa
import pytest

from pipelines.analytics.gamma_daily import (
    PROFILE_HI,
    PROFILE_LO,
    ROUND_RANGE_PCT,
    SAME_DAY_YEARS,
    ZONE_PEAK_SHARE,
    Assumptions,
    ChainArrays,
    flip_events,
    gamma_day,
)
from pipelines.assets.gamma_exposure import TABLES, compute_window, concat_days, configured_levels
from pipelines.checks.gamma_checks import gamma_tables_reconcile
from pipelines.settings import Settings, SettingsError
from tests.test_gamma_library import _load_chain, o_crossings, o_level, o_ok, o_term
from tests.test_gamma_tables import real_chain_table

DAY = dt.date(2020, 5, 21)
REL = 1e-9
LEVELS = ((9000.0, "round support"), (8500.0, "a lower level"), (10000.0, "the narrative"))


@pytest.fixture(scope="module")
def path(real_fixtures):
    return real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json"


@pytest.fixture(scope="module")
def oracle_chain(path):
    return _load_chain(path)


def day(path, **assumed):
    return gamma_day(DAY, ChainArrays.from_table(real_chain_table(path)), currency="BTC",
                     assumptions=Assumptions(**assumed), configured_levels=LEVELS)


def o_options(chain, *, long_calls=True, policy="include", floor_hours=24.0):
    """(K, T, is_call, OI, iv, F, same_day) of each pricable row as the policy prices it, in a plain loop."""
    out = []
    for k, t, c, oi, iv, f in zip(chain["K"], chain["T"], chain["C"], chain["OI"], chain["IV"], chain["F"]):
        same = isinstance(t, float) and 0 < t <= 1 / 365
        if same and policy == "exclude":
            continue
        if same and policy == "floor":
            t = max(t, floor_hours / 8760)
        if o_ok(k, t, oi, iv, f):
            out.append((k, t, c, oi, iv, f, same))
    return out


def o_strikes(options, long_calls=True, with_oi=False):
    """{strike: [call GEX, put GEX, put OI(, call + put OI)]} from plain loops."""
    acc: dict[float, list[float]] = {}
    for k, t, c, oi, iv, f, _ in options:
        g = o_term(1.0, 1.0, k, t, c, oi, iv, f, 1.0, long_calls)
        row = acc.setdefault(k, [0.0, 0.0, 0.0, 0.0])
        row[0 if c else 1] += g
        row[3] += oi
        if not c:
            row[2] += oi
    return acc if with_oi else {k: v[:3] for k, v in acc.items()}


def close(got: float, want: float, scale: float) -> bool:
    return abs(got - want) <= REL * max(abs(want), scale)


# ----------------------------------------------------------------------------------------------------------------
# gamma around a level
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("band_pct", [1.0, 2.5])
def test_level_bands_are_the_strikes_within_the_band(path, oracle_chain, band_pct):
    g = day(path, level_band_pct=band_pct)
    strikes = o_strikes(o_options(oracle_chain), with_oi=True)
    gross_all = sum(abs(c) + abs(p) for c, p, _, _ in strikes.values())
    spot = oracle_chain["spot"]
    zero = o_crossings(spot, oracle_chain, PROFILE_LO, PROFILE_HI)
    # the levels, by their rules: spot, zero gamma, the configured ones, multiples of $100 within 10% of spot
    want_levels = {spot: "spot", LEVELS[0][0]: "configured", LEVELS[1][0]: "configured", LEVELS[2][0]: "configured"}
    want_levels.setdefault(min(zero, key=lambda z: abs(z - spot)), "zero_gamma")
    k = 0
    while k * 100.0 <= spot * (1 + ROUND_RANGE_PCT / 100):
        if k * 100.0 >= spot * (1 - ROUND_RANGE_PCT / 100):
            want_levels.setdefault(k * 100.0, "round")
        k += 1
    rows = g.level_bands.to_pylist()
    got_levels = {r["level_usd"]: r["level_kind"] for r in rows}
    assert sorted(got_levels) == pytest.approx(sorted(want_levels), rel=1e-12)
    assert [got_levels[x] for x in sorted(got_levels)] == [want_levels[x] for x in sorted(want_levels)]
    assert [r["level_label"] for r in rows if r["level_usd"] == 9000.0] == ["round support"]
    for r in rows:
        low, high = r["level_usd"] * (1 - band_pct / 100), r["level_usd"] * (1 + band_pct / 100)
        net = gross = calls = puts = oi = 0.0
        n = 0
        for strike, (c, p, _, strike_oi) in strikes.items():
            if low <= strike <= high:
                n += 1
                oi += strike_oi
                calls += c
                puts += p
                net += c + p
                gross += abs(c) + abs(p)
        assert r["strikes_in_band"] == n and r["band_pct"] == band_pct, r
        assert r["oi_in_band"] == pytest.approx(oi, rel=1e-12) and r["oi_in_band_usd"] == pytest.approx(oi * spot)
        for column, want in (("net_gex_usd", net), ("gross_gex_usd", gross), ("call_gex_usd", calls),
                             ("put_gex_usd", puts)):
            assert close(r[column], want, gross_all), (r["level_usd"], column, r[column], want)
    # around $9,000 at +/-1%: the strikes 8,950 .. 9,050 of the grid (9,000 only on this chain)
    if band_pct == 1.0:
        (at_9000,) = [r for r in rows if r["level_usd"] == 9000.0]
        assert at_9000["strikes_in_band"] == 1 and at_9000["gross_gex_usd"] > abs(at_9000["net_gex_usd"]) > 0
    assert gamma_tables_reconcile(g.summary, g.by_strike, g.by_expiry_strike, g.profile, g.regime_bands,
                                  g.level_bands, g.downside).passed


# ----------------------------------------------------------------------------------------------------------------
# below the flip: the short band, the acceleration zone, the target range
# ----------------------------------------------------------------------------------------------------------------


def test_downside_rules_against_plain_loops(path, oracle_chain):
    g = day(path)
    (d,) = g.downside.to_pylist()
    spot = oracle_chain["spot"]
    (flip,) = o_crossings(spot, oracle_chain, PROFILE_LO, PROFILE_HI)
    assert d["zero_gamma_usd"] == pytest.approx(flip, rel=1e-9)
    # the profile at the table's own levels, by the oracle
    levels = g.profile.column("price_level_usd").to_pylist()
    values = [o_level(level, spot, oracle_chain)[0] for level in levels]
    scale = max(abs(v) for v in values)
    # the short band below the flip: from the flip down while the profile is negative (to the grid's end)
    top = max(i for i, level in enumerate(levels) if level <= d["zero_gamma_usd"])
    i = top
    while i - 1 >= 0 and values[i - 1] < 0:
        i -= 1
    assert d["short_band_high_usd"] == d["zero_gamma_usd"]
    assert d["short_band_low_usd"] == pytest.approx(levels[i], rel=1e-12) == spot * PROFILE_LO
    band = list(range(i, top + 1))
    # the peak: the lowest profile value in the band
    peak = band[0]
    for j in band:
        if values[j] < values[peak] - REL * scale:
            peak = j
    assert d["short_gamma_peak_usd"] == levels[peak]
    assert close(d["short_gamma_peak_gex_usd"], values[peak], scale) and values[peak] < 0
    # the zone: neighbours of the peak whose profile is at least half the peak's short gamma
    lo = hi = peak
    while lo - 1 >= band[0] and values[lo - 1] <= ZONE_PEAK_SHARE * values[peak]:
        lo -= 1
    while hi + 1 <= band[-1] and values[hi + 1] <= ZONE_PEAK_SHARE * values[peak]:
        hi += 1
    assert (d["accel_zone_low_usd"], d["accel_zone_high_usd"]) == (levels[lo], levels[hi])
    # the put-OI cluster: the largest put OI of the pricable rows below the zone and inside the band
    put_oi: dict[float, float] = {}
    for k, t, c, oi, iv, f, _ in o_options(oracle_chain):
        if not c:
            put_oi[k] = put_oi.get(k, 0.0) + oi
    below = [(oi, k) for k, oi in put_oi.items() if d["short_band_low_usd"] <= k < levels[lo] and oi > 0]
    best_oi, best_k = max(below)  # ties: the higher strike
    assert (d["put_oi_cluster_strike_usd"], d["put_oi_cluster_oi"]) == (best_k, pytest.approx(best_oi, rel=1e-12))
    assert (d["target_low_usd"], d["target_high_usd"]) == (best_k, levels[lo])
    assert d["target_low_usd"] <= d["accel_zone_low_usd"] <= d["short_gamma_peak_usd"] <= d["accel_zone_high_usd"] \
        <= d["zero_gamma_usd"] < d["spot_usd"]


def test_no_flip_or_long_gamma_below_it_leaves_the_downside_empty(path):
    g = day(path, dealer_convention="short_calls_long_puts")  # below the flip dealers are now long gamma
    (d,) = g.downside.to_pylist()
    assert d["zero_gamma_usd"] is not None
    assert all(d[c] is None for c in ("short_band_low_usd", "accel_zone_low_usd", "target_low_usd"))


# ----------------------------------------------------------------------------------------------------------------
# flip events
# ----------------------------------------------------------------------------------------------------------------


def _market_moved(path, factor: float) -> pa.Table:
    """The real chain on a day the market moved by ``factor``: the index and every forward scaled, strikes, OI and
    implied vols as they were."""
    table = real_chain_table(path)
    for column in ("index_usd", "forward_usd"):
        values = [x * factor if x is not None else None for x in table.column(column).to_pylist()]
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.float64()))
    return table


def test_flip_crossing_detection_on_real_chains(path, oracle_chain):
    """Three consecutive days: the real chain, then the market 4% lower (spot below its flip), then back; the events
    come from each day's own flip (recomputed here by the oracle) by the rules in words."""
    factors = [1.0, 0.96, 1.0]
    summaries, want = [], []
    oracle = []
    for n, factor in enumerate(factors):
        d = DAY + dt.timedelta(days=n)
        g = gamma_day(d, ChainArrays.from_table(_market_moved(path, factor)), currency="BTC")
        summaries += g.summary.to_pylist()
        moved = {**oracle_chain, "F": [f * factor for f in oracle_chain["F"]]}
        spot = oracle_chain["spot"] * factor
        crossings = o_crossings(spot, moved, PROFILE_LO, PROFILE_HI)
        oracle.append((d, spot, min(crossings, key=lambda z: (abs(z - spot), z))))
    for (d0, s0, f0), (d1, s1, f1) in zip(oracle, oracle[1:]):
        if (s0 >= f0) != (s1 >= f1):
            want.append((d1, "spot_crossed_flip", "down" if s1 < f1 else "up"))
        move = (f1 - f0) / f0 * 100
        if abs(move) > 2.0:
            want.append((d1, "flip_moved", "down" if move < 0 else "up"))
    events = flip_events(summaries).to_pylist()
    assert [(e["snapshot_date"], e["event"], e["direction"]) for e in events] == want
    assert ("spot_crossed_flip", "down") in [(e[1], e[2]) for e in want]  # the cases this test is about
    assert ("spot_crossed_flip", "up") in [(e[1], e[2]) for e in want]
    for e in events:
        (o,) = [o for o in oracle if o[0] == e["snapshot_date"]]
        assert e["zero_gamma_usd"] == pytest.approx(o[2], rel=1e-9) and e["spot_usd"] == pytest.approx(o[1])


def test_flip_event_rules():
    d = dt.date(2025, 11, 18)
    rows = [
        {"snapshot_date": d, "currency": "BTC", "spot_usd": 93_000.0, "zero_gamma_usd": 88_000.0},
        {"snapshot_date": d + dt.timedelta(1), "currency": "BTC", "spot_usd": 88_500.0, "zero_gamma_usd": 88_400.0},
        {"snapshot_date": d + dt.timedelta(2), "currency": "BTC", "spot_usd": 86_000.0, "zero_gamma_usd": 90_500.0},
        {"snapshot_date": d + dt.timedelta(4), "currency": "BTC", "spot_usd": 95_000.0, "zero_gamma_usd": 80_000.0},
        {"snapshot_date": d + dt.timedelta(5), "currency": "BTC", "spot_usd": 95_000.0, "zero_gamma_usd": None},
        {"snapshot_date": d + dt.timedelta(1), "currency": "ETH", "spot_usd": 3_000.0, "zero_gamma_usd": 3_100.0},
        {"snapshot_date": d, "currency": "ETH", "spot_usd": 3_200.0, "zero_gamma_usd": 3_100.0},
    ]
    got = [(e["snapshot_date"], e["currency"], e["event"], e["direction"], round(e["flip_move_pct"], 4))
           for e in flip_events(rows, Assumptions(flip_move_pct=2.0)).to_pylist()]
    assert got == [
        # 88,400 / 88,000 - 1 = 0.45%: no move event; spot stays above the flip
        (d + dt.timedelta(2), "BTC", "spot_crossed_flip", "down", 2.3756),  # 86,000 < 90,500 after 88,500 >= 88,400
        (d + dt.timedelta(2), "BTC", "flip_moved", "up", 2.3756),
        # d+4 follows a gap (no d+3): no event; d+5 has no flip: no event
        (d + dt.timedelta(1), "ETH", "spot_crossed_flip", "down", 0.0),
    ]


# ----------------------------------------------------------------------------------------------------------------
# assumptions as settings, recorded and honoured
# ----------------------------------------------------------------------------------------------------------------


def test_exclude_same_day_changes_totals_by_exactly_the_same_day_rows(path, oracle_chain):
    inc, exc = day(path), day(path, near_expiry_policy="exclude")
    options = o_options(oracle_chain)
    same = [o for o in options if o[6]]
    assert {oracle_chain["expiry"][i] for i, t in enumerate(oracle_chain["T"]) if 0 < t <= SAME_DAY_YEARS} == {"22MAY20"}
    same_net = math.fsum(o_term(1.0, 1.0, *o[:6]) for o in same)
    gross = math.fsum(abs(o_term(1.0, 1.0, *o[:6])) for o in options)
    (si,), (se,) = inc.summary.to_pylist(), exc.summary.to_pylist()
    assert si["rows_same_day"] == se["rows_same_day"] == sum(1 for t in oracle_chain["T"] if 0 < t <= 1 / 365) == 58
    assert close(si["total_net_gex_usd"] - se["total_net_gex_usd"], same_net, gross)
    assert se["rows_used"] == si["rows_used"] - len(same) and se["rows_excluded"] == si["rows_excluded"] + len(same)
    for s in (si, se):  # both totals reported whatever the policy
        assert close(s["total_net_gex_incl_same_day_usd"], si["total_net_gex_usd"], gross)
        assert close(s["total_net_gex_excl_same_day_usd"], se["total_net_gex_usd"], gross)
        assert close(s["same_day_gross_gex_usd"], math.fsum(abs(o_term(1.0, 1.0, *o[:6])) for o in same), gross)
    # by strike: excluding is the oracle without the same-day rows, strike by strike
    want = o_strikes(o_options(oracle_chain, policy="exclude"))
    got = {r["strike"]: r for r in exc.by_strike.to_pylist()}
    assert set(got) == set(want)
    for k, (c, p, poi) in want.items():
        assert close(got[k]["call_gex_usd"], c, gross) and close(got[k]["put_gex_usd"], p, gross)
        assert got[k]["put_oi"] == pytest.approx(poi, rel=1e-12)
    # every table records the policy it was computed under
    for table in (exc.by_strike, exc.by_expiry_strike, exc.profile, exc.regime_bands, exc.summary, exc.level_bands,
                  exc.downside):
        assert set(table.column("near_expiry_policy").to_pylist()) == {"exclude"}
        assert set(table.column("dealer_convention").to_pylist()) == {"long_calls_short_puts"}
        assert set(table.column("t_floor_hours").to_pylist()) == {None}
    assert not any(e == dt.date(2020, 5, 22) for e in exc.by_expiry_strike.column("expiry_date").to_pylist())


def test_floor_prices_same_day_rows_at_the_floor(path, oracle_chain):
    g = day(path, near_expiry_policy="floor", t_floor_hours=24.0)
    options = o_options(oracle_chain, policy="floor", floor_hours=24.0)
    gross = math.fsum(abs(o_term(1.0, 1.0, *o[:6])) for o in options)
    (s,) = g.summary.to_pylist()
    assert close(s["total_net_gex_usd"], math.fsum(o_term(1.0, 1.0, *o[:6]) for o in options), gross)
    assert close(s["total_net_gex_usd"], s["total_net_gex_incl_same_day_usd"], gross)
    assert set(g.profile.column("t_floor_hours").to_pylist()) == {24.0}
    assert set(g.level_bands.column("near_expiry_policy").to_pylist()) == {"floor"}


def test_dealer_convention_negates_every_figure_and_is_recorded(path):
    std, opp = day(path), day(path, dealer_convention="short_calls_long_puts")
    (a,), (b,) = std.summary.to_pylist(), opp.summary.to_pylist()
    assert b["total_net_gex_usd"] == -a["total_net_gex_usd"] and b["gross_gex_usd"] == a["gross_gex_usd"]
    assert b["zero_gamma_usd"] == pytest.approx(a["zero_gamma_usd"], rel=1e-9)
    assert std.by_strike.column("net_gex_usd").to_pylist() == [-x for x in opp.by_strike.column("net_gex_usd").to_pylist()]
    assert [r["regime"] for r in opp.regime_bands.to_pylist()] == ["long_gamma", "short_gamma"]
    assert set(opp.summary.column("dealer_convention").to_pylist()) == {"short_calls_long_puts"}


def test_settings_reach_the_rows(path):
    """BTCW_GAMMA_* read by Settings, turned into the assumptions the asset computes under (compute_window over a
    chain mart in DuckDB), and recorded on every row of every table."""
    env = {"BTCW_GAMMA_DEALERS": "short_calls_long_puts", "BTCW_GAMMA_SAME_DAY": "floor",
           "BTCW_GAMMA_T_FLOOR_HOURS": "12", "BTCW_GAMMA_LEVEL_BAND_PCT": "2", "BTCW_GAMMA_FLIP_MOVE_PCT": "0.5"}
    assumed = Assumptions.from_settings(Settings.from_env(env))
    assert assumed == Assumptions("short_calls_long_puts", "floor", 12.0, 2.0, 0.5)
    assert Assumptions.from_settings(Settings.from_env({})) == Assumptions()
    for bad in ({"BTCW_GAMMA_SAME_DAY": "drop"}, {"BTCW_GAMMA_DEALERS": "long"}, {"BTCW_GAMMA_T_FLOOR_HOURS": "0"},
                {"BTCW_GAMMA_LEVEL_BAND_PCT": "-1"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env(bad)
    chain = real_chain_table(path)
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    rows = chain.append_column("snapshot_date", pa.array([DAY] * chain.num_rows, pa.date32())) \
        .append_column("currency", pa.array(["BTC"] * chain.num_rows)) \
        .append_column("instrument_name", pa.array([f"{i:04d}" for i in range(chain.num_rows)]))
    conn.register("incoming", rows)
    conn.execute("CREATE TABLE marts.fct_option_chain_snapshot AS SELECT * FROM incoming")
    tables = concat_days(compute_window(conn, [DAY], assumed).days, [], assumed)
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        if table.num_rows:
            assert set(zip(*(table.column(c).to_pylist() for c in ("dealer_convention", "near_expiry_policy",
                                                                    "t_floor_hours")))) == \
                {("short_calls_long_puts", "floor", 12.0)}, name
    bands = tables["marts.fct_gamma_level_bands"].to_pylist()
    assert {r["band_pct"] for r in bands} == {2.0}
    # the configured price levels (the dbt seed of marts.fct_price_level_events) are BTC's level bands
    assert {level for level, _ in configured_levels()} == {100000.0, 92000.0, 88000.0, 87000.0}
    assert {r["level_usd"] for r in bands if r["level_kind"] == "configured"} == {100000.0, 92000.0, 88000.0, 87000.0}


def test_the_reconciliation_covers_level_bands_the_policy_total_and_the_downside(path):
    g = day(path, near_expiry_policy="exclude")

    def outcome(**tables):
        t = {"summary": g.summary, "by_strike": g.by_strike, "by_expiry_strike": g.by_expiry_strike,
             "profile": g.profile, "regime_bands": g.regime_bands, "level_bands": g.level_bands,
             "downside": g.downside, **tables}
        return gamma_tables_reconcile(**t)

    def with_column(table: pa.Table, name: str, values: list) -> pa.Table:
        return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type))

    assert outcome().passed
    bands = g.level_bands.column("gross_gex_usd").to_pylist()
    bad = outcome(level_bands=with_column(g.level_bands, "gross_gex_usd", [bands[0] * 1.01] + bands[1:]))
    assert not bad.passed and "level band" in bad.description
    (s,) = g.summary.to_pylist()  # under 'exclude' the total must be the one without the same-day rows
    bad = outcome(summary=with_column(g.summary, "total_net_gex_usd", [s["total_net_gex_incl_same_day_usd"]]))
    assert not bad.passed and "exclude policy's total" in bad.description
    (d,) = g.downside.to_pylist()
    bad = outcome(downside=with_column(g.downside, "target_low_usd", [d["accel_zone_high_usd"] + 1]))
    assert not bad.passed and "downside levels are not ordered" in bad.description
