"""The replay path on a real chain: Deribit's 2020-05-21 book summary placed in the landing archive of a live tree,
replayed through the deribit extract, dbt (staging + fct_option_chain_snapshot and the option marts), the gamma
asset and the volatility-surface asset, gives marts equal to what the library computes straight from the recorded
JSON, and open-interest ratios, max pain, the smile's ATM and 25-delta figures and the term structure equal to
plain loops over that JSON.

Only the deribit lineage is materialised (one partition, replay mode), so no other source and no other dbt model
or test runs.  The expected figures are computed here from the raw JSON with the library (the library itself is
checked against an independent plain-loop oracle in test_gamma_library.py, which pins the same figures).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import statistics
from collections import defaultdict

import dagster as dg
import duckdb
import numpy as np
import pytest

from pipelines.analytics import gamma as G
from pipelines.analytics.gamma_daily import PROFILE_HI, PROFILE_LO
from pipelines.assets.gamma_exposure import GAMMA_KEYS, SUMMARY_KEY, reports_dir
from pipelines.assets.vol_surface import VOL_KEYS
from pipelines.definitions import build_definitions
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.fetcher import FetchedBody
from pipelines.settings import Settings, SourceMode
from pipelines.sources.deribit import build_option_book_summary_request

pytestmark = pytest.mark.e2e

DAY = dt.date(2020, 5, 21)
REL = 1e-9
# Pinned in test_gamma_library.py from its plain-loop oracle (spot = index of the chain's newest row).
PINNED_SPOT, PINNED_TOTAL, PINNED_ZERO_GAMMA, PINNED_WALL = 9081.63, 587754.0773019323, 8886.822302019598, 9000.0
SELECTED = [
    dg.AssetKey(["raw", "deribit__option_book_summary"]),
    # The ETH chain is archived since 2026-12-02: replaying 2020 it has nothing to ask, and everything else builds.
    dg.AssetKey(["raw", "deribit__eth_option_book_summary"]),
    dg.AssetKey(["staging", "stg_deribit__option_book_summary"]),
    dg.AssetKey(["marts", "fct_option_chain_snapshot"]),
    dg.AssetKey(["marts", "fct_option_oi_daily"]),
    dg.AssetKey(["marts", "fct_option_max_pain"]),
    *GAMMA_KEYS,
    *VOL_KEYS,
]
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}


def _expiry(code: str) -> dt.datetime:
    """'22MAY20' -> 2020-05-22 08:00 UTC (Deribit's expiry time)."""
    return dt.datetime(2000 + int(code[-2:]), _MONTHS[code[-5:-2]], int(code[:-5]), 8, tzinfo=dt.UTC)


def expected_from_json(body: bytes) -> dict:
    """The library on the raw JSON, no warehouse involved."""
    rows = json.loads(body)["result"]
    K, T, C, OI, IV, F, E = [], [], [], [], [], [], []
    for r in rows:
        _, code, strike, cp = r["instrument_name"].split("-")
        created = dt.datetime.fromtimestamp(r["creation_timestamp"] / 1000, tz=dt.UTC)
        K.append(float(strike))
        T.append((_expiry(code) - created).total_seconds() / (365 * 86400))
        C.append(cp == "C")
        OI.append(float(r["open_interest"]))
        IV.append(r["mark_iv"] / 100.0)
        F.append(float(r["underlying_price"]))
        E.append(_expiry(code).date())
    args = tuple(np.array(v, dtype=bool if v is C else float) for v in (K, T, C, OI, IV, F))
    spot = max(rows, key=lambda r: r["creation_timestamp"])["estimated_delivery_price"]
    strikes, call_g, put_g, net_g = G.gex_by_strike(*args)
    per_option = G.option_gex(*args)
    usable = G.pricable_mask(args[0], args[1], args[3], args[4], args[5])
    by_expiry: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for e, k, c, g, ok in zip(E, K, C, per_option, usable):
        if ok:
            by_expiry[(e, k)][0 if c else 1] += g
    regimes = G.gamma_regimes(spot, *args, lo=PROFILE_LO, hi=PROFILE_HI)
    return {
        "args": args,
        "spot": spot,
        "rows": len(rows),
        "used": int(usable.sum()),
        "by_strike": {k: (c, p, n) for k, c, p, n in zip(strikes, call_g, put_g, net_g)},
        "by_expiry": dict(by_expiry),
        "scale": float(np.abs(call_g).sum() + np.abs(put_g).sum()),
        "total": float(net_g.sum()),
        "call_wall": G.call_wall(strikes, call_g),
        "put_wall": G.put_wall(strikes, put_g),
        "zero_gamma": G.nearest_to_spot(regimes.crossings, spot),
        "bands": regimes.bands,
        "newest_ms": max(r["creation_timestamp"] for r in rows),
    }


def close(got: float, want: float, scale: float) -> bool:
    return abs(got - want) <= REL * max(abs(want), scale)


@pytest.fixture(scope="module")
def replayed(real_fixtures, tmp_path_factory):
    body = (real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json").read_bytes()
    expected = expected_from_json(body)
    settings = Settings(source_mode=SourceMode.REPLAY, warehouse_dir=tmp_path_factory.mktemp("wh"),
                        start_date=dt.date(2020, 1, 1))
    # Archived as the nightly fetch would have: a minute after the chain's newest row was stamped.
    fetched_at = dt.datetime.fromtimestamp(expected["newest_ms"] / 1000, tz=dt.UTC) + dt.timedelta(minutes=1)
    LandingArchive(settings.landing_dir).write(
        FetchedBody(build_option_book_summary_request(DAY), 200, body, fetched_at.replace(microsecond=0))
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            list(defs.assets), selection=SELECTED, partition_key=DAY.isoformat(), instance=instance,
            resources=defs.resources, raise_on_error=False,
        )
    assert result.success, [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        gamma_tables = ("fct_gamma_exposure_by_strike", "fct_gamma_exposure_by_expiry_strike", "fct_gamma_profile",
                        "fct_gamma_regime_bands", "fct_gamma_summary_daily", "fct_gamma_level_bands",
                        "fct_gamma_downside_daily")
        for name in gamma_tables:  # the chain is BTC's: so is every gamma row (the tests below read the rest)
            assert conn.sql(f"SELECT DISTINCT currency FROM marts.{name}").fetchall() == [("BTC",)], name
        marts = {name: conn.sql(f"SELECT * EXCLUDE (currency) FROM marts.{name} ORDER BY ALL").fetchall()
                 for name in gamma_tables}
        for name in ("fct_option_oi_daily", "fct_option_max_pain", "fct_option_vol_surface", "fct_option_vol_daily"):
            marts[name] = conn.sql(f"SELECT * FROM marts.{name} ORDER BY ALL").to_arrow_table().to_pylist()
    return settings, result, expected, marts


def test_only_the_deribit_lineage_ran_and_every_check_passed(replayed):
    settings, result, _, _ = replayed
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        assert conn.sql("SELECT count(*) FROM raw.deribit__eth_option_book_summary").fetchone() == (0,)
        assert conn.sql("SELECT DISTINCT currency FROM marts.fct_option_chain_snapshot").fetchall() == [("BTC",)]
    materialized = {e.asset_key for e in result.get_asset_materialization_events() for e in [e.materialization]}
    assert materialized == set(SELECTED)
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_key for e in evaluations} <= set(SELECTED)
    names = {e.check_name for e in evaluations}
    assert {"gex_totals_finite", "gamma_tables_reconcile", "assert_option_chain_parsed"} <= names
    assert [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed] == []


def test_summary_equals_the_library_on_the_recorded_json(replayed):
    _, _, exp, marts = replayed
    (row,) = marts["fct_gamma_summary_daily"]
    day, spot, total, zero_gamma, call_wall, put_wall, regime, near, used, excluded = row[:10]
    assert day == DAY and spot == exp["spot"] == PINNED_SPOT
    assert close(total, exp["total"], exp["scale"]) and total == pytest.approx(PINNED_TOTAL, rel=REL)
    assert call_wall == exp["call_wall"] == PINNED_WALL and put_wall == exp["put_wall"] == PINNED_WALL
    assert zero_gamma == pytest.approx(exp["zero_gamma"], rel=REL)
    assert zero_gamma == pytest.approx(PINNED_ZERO_GAMMA, rel=REL)
    assert regime == "long_gamma" and near > 0
    assert (used, excluded) == (exp["used"], exp["rows"] - exp["used"]) == (257, 69)


def test_by_strike_and_by_expiry_rows_equal_the_library(replayed):
    _, _, exp, marts = replayed
    rows = marts["fct_gamma_exposure_by_strike"]
    assert [r[1] for r in rows] == sorted(exp["by_strike"])
    for _, strike, call_g, put_g, net_g, call_oi, put_oi, *assumed in rows:
        assert assumed == ["long_calls_short_puts", "include", None]  # the default settings, recorded
        want = exp["by_strike"][strike]
        assert all(close(g, w, exp["scale"]) for g, w in zip((call_g, put_g, net_g), want)), strike
        assert call_oi >= 0 and put_oi >= 0
    by_expiry = marts["fct_gamma_exposure_by_expiry_strike"]
    assert {(r[1], r[2]) for r in by_expiry} == set(exp["by_expiry"])
    for _, expiry, strike, call_g, put_g, net_g, _, _, *_ in by_expiry:
        want_c, want_p = exp["by_expiry"][(expiry, strike)]
        assert close(call_g, want_c, exp["scale"]) and close(put_g, want_p, exp["scale"])
        assert close(net_g, want_c + want_p, exp["scale"])


def test_profile_and_bands_equal_the_library(replayed):
    _, _, exp, marts = replayed
    levels = np.array([r[1] for r in marts["fct_gamma_profile"]])
    values = np.array([r[2] for r in marts["fct_gamma_profile"]])
    want = G.gex_profile(levels, exp["spot"], *exp["args"])
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(values, want, rtol=REL, atol=REL * scale)
    assert levels[0] == 0.5 * exp["spot"] and levels[-1] == 1.5 * exp["spot"] and exp["spot"] in levels
    bands = [(r[1], r[2], r[3]) for r in marts["fct_gamma_regime_bands"]]
    assert [b[2] for b in bands] == [b.regime for b in exp["bands"]] == ["short_gamma", "long_gamma"]
    for (low, high, _), b in zip(bands, exp["bands"]):
        assert low == pytest.approx(b.low, rel=REL) and high == pytest.approx(b.high, rel=REL)


def test_picture_written_and_shown_in_the_metadata(replayed):
    settings, result, _, _ = replayed
    path = reports_dir(settings.tree_dir) / f"{DAY.isoformat()}.png"
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"Software" not in png
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    summary_event = next(
        e.materialization for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == SUMMARY_KEY
    )
    assert summary_event.partition == DAY.isoformat()  # the day's own materialization, its own figures
    md = summary_event.metadata["picture"].value
    prefix = "data:image/png;base64,"
    assert md.startswith("![") and prefix in md
    assert base64.b64decode(md.split(prefix, 1)[1].rstrip(")")) == png
    assert summary_event.metadata["picture_file"].value == str(path)
    # money in the metadata is rounded to the cent (pipelines/metadata.py); the mart keeps every digit
    assert summary_event.metadata["zero_gamma_usd"].value == round(PINNED_ZERO_GAMMA, 2)
    assert summary_event.metadata["spot_usd"].value == PINNED_SPOT


def test_open_interest_ratios_and_max_pain_equal_plain_loops_over_the_json(real_fixtures, replayed):
    """Recomputed here from the recorded body: no SQL, no library; brute force over every listed strike."""
    marts = replayed[3]
    rows = json.loads((real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json").read_bytes())["result"]
    calls = [r for r in rows if r["instrument_name"].endswith("-C")]
    puts = [r for r in rows if r["instrument_name"].endswith("-P")]
    (day,) = marts["fct_option_oi_daily"]
    call_oi, put_oi = sum(r["open_interest"] for r in calls), sum(r["open_interest"] for r in puts)
    call_volume = sum(r["volume"] or 0 for r in calls)
    put_volume = sum(r["volume"] or 0 for r in puts)
    assert (day["snapshot_date"], day["currency"], day["instruments"]) == (DAY, "BTC", len(rows))
    assert day["call_open_interest"] == pytest.approx(call_oi, rel=1e-12)
    assert day["put_open_interest"] == pytest.approx(put_oi, rel=1e-12)
    assert day["put_call_oi_ratio"] == pytest.approx(put_oi / call_oi, rel=1e-12)
    assert day["put_call_volume_ratio"] == pytest.approx(put_volume / call_volume, rel=1e-12)
    assert day["open_interest_usd"] == pytest.approx(
        sum(r["open_interest"] * r["estimated_delivery_price"] for r in rows), rel=1e-12)

    # max pain: for each expiry alive at its rows' time, the strike minimising what holders would be paid
    by_expiry: dict[dt.date, list[tuple[float, bool, float]]] = defaultdict(list)
    for r in rows:
        _, code, strike, cp = r["instrument_name"].split("-")
        if _expiry(code) > dt.datetime.fromtimestamp(r["creation_timestamp"] / 1000, tz=dt.UTC):
            by_expiry[_expiry(code).date()].append((float(strike), cp == "C", r["open_interest"]))
    want = {}
    for expiry, options in by_expiry.items():
        def paid(settle: float) -> float:
            return sum(oi * max(0.0, settle - k) if is_call else oi * max(0.0, k - settle)
                       for k, is_call, oi in options)
        candidates = sorted({k for k, _, _ in options})
        best = min(candidates, key=lambda k: (paid(k), k))
        want[expiry] = (best, paid(best), len(candidates))
    got = {r["expiry_date"]: r for r in marts["fct_option_max_pain"]}
    assert set(got) == set(want) and len(want) >= 5
    for expiry, (strike, payout, strikes) in want.items():
        row = got[expiry]
        assert (row["max_pain_usd"], row["strikes"], row["currency"]) == (strike, strikes, "BTC"), expiry
        assert row["payout_at_max_pain_usd"] == pytest.approx(payout, rel=1e-12), expiry


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _first_bracket(points: list[tuple[float, float]], at: float) -> float | None:
    """y at x = `at` on the first consecutive pair of (x, y) points whose x values straddle it."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 != x1 and (x0 - at) * (x1 - at) <= 0:
            return y0 + (y1 - y0) * (at - x0) / (x1 - x0)
    return None


def test_vol_surface_equals_plain_loops_over_the_json(real_fixtures, replayed):
    """ATM IV, 25-delta wings, RR, BF per expiry and the 7/30/90-day term structure, recomputed here from the
    recorded body with math.erf and loops (no numpy, no scipy, no SQL)."""
    marts = replayed[3]
    rows = json.loads((real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json").read_bytes())["result"]
    by_expiry: dict[dt.date, list[dict]] = defaultdict(list)
    for r in rows:
        _, code, strike, cp = r["instrument_name"].split("-")
        created = dt.datetime.fromtimestamp(r["creation_timestamp"] / 1000, tz=dt.UTC)
        years = (_expiry(code) - created).total_seconds() / (365 * 86400)
        if years > 0 and r["mark_iv"] and r["mark_iv"] > 0 and r["underlying_price"] > 0:
            by_expiry[_expiry(code).date()].append(
                {"k": float(strike), "call": cp == "C", "iv": r["mark_iv"], "f": r["underlying_price"], "t": years})
    want = {}
    for expiry, options in by_expiry.items():
        f = statistics.median(o["f"] for o in options)
        t = statistics.median(o["t"] for o in options)
        for o in options:
            s = o["iv"] / 100 * math.sqrt(o["t"])
            d1 = (math.log(o["f"] / o["k"]) + s * s / 2) / s
            o["delta"] = _n(d1) if o["call"] else _n(d1) - 1
        per_strike: dict[float, list[float]] = defaultdict(list)
        for o in options:
            per_strike[o["k"]].append(o["iv"])
        smile = [(math.log(k / f), sum(v) / len(v)) for k, v in sorted(per_strike.items())]
        atm = _first_bracket(smile, 0.0)
        calls = [(o["delta"], o["iv"]) for o in sorted(options, key=lambda o: o["k"]) if o["call"] and o["k"] >= f]
        puts = [(o["delta"], o["iv"]) for o in sorted(options, key=lambda o: -o["k"]) if not o["call"] and o["k"] <= f]
        want[expiry] = (t * 365, f, len(per_strike), atm, _first_bracket(calls, 0.25), _first_bracket(puts, -0.25))
    got = {r["expiry_date"]: r for r in marts["fct_option_vol_surface"]}
    assert set(got) == set(want)
    with_wings = 0
    for expiry, (days, f, strikes, atm, call, put) in want.items():
        row = got[expiry]
        assert (row["currency"], row["strikes"]) == ("BTC", strikes), expiry
        assert row["days_to_expiry"] == pytest.approx(days, rel=1e-12) and row["forward_usd"] == pytest.approx(f)
        for name, value in (("atm_iv", atm), ("call_25d_iv", call), ("put_25d_iv", put)):
            assert (row[name] is None) == (value is None), (expiry, name)
            if value is not None:
                assert row[name] == pytest.approx(value, rel=1e-9), (expiry, name)
        if call is not None and put is not None and atm is not None:
            with_wings += 1
            assert row["rr_25d"] == pytest.approx(call - put, abs=1e-9)
            assert row["bf_25d"] == pytest.approx((call + put) / 2 - atm, abs=1e-9)
    assert with_wings >= 5  # the figures are there on most expiries, not null everywhere

    # term structure: total variance linear in T between the two expiries around each tenor, at least a day out
    term = sorted((days / 365, atm, call - put if call is not None and put is not None else None,
                   (call + put) / 2 - atm if call is not None and put is not None and atm is not None else None)
                  for days, _, _, atm, call, put in want.values() if days >= 1 and atm is not None)
    (daily,) = marts["fct_option_vol_daily"]
    assert (daily["snapshot_date"], daily["currency"], daily["expiries"]) == (DAY, "BTC", len(want))
    for tenor in (7, 30, 90):
        target = tenor / 365
        (t0, a0, rr0, bf0), (t1, a1, rr1, bf1) = next(
            (near, far) for near, far in zip(term, term[1:]) if near[0] <= target <= far[0])
        w = (target - t0) / (t1 - t0)
        assert daily[f"atm_iv_{tenor}d"] == pytest.approx(
            math.sqrt(((1 - w) * a0 * a0 * t0 + w * a1 * a1 * t1) / target), rel=1e-9), tenor
        if tenor == 30:
            assert daily["rr_25d_30d"] == pytest.approx((1 - w) * rr0 + w * rr1, abs=1e-9)
            assert daily["bf_25d_30d"] == pytest.approx((1 - w) * bf0 + w * bf1, abs=1e-9)
    assert daily["term_slope_30_90"] == pytest.approx(daily["atm_iv_90d"] - daily["atm_iv_30d"], abs=1e-12)
