"""The gamma tables of one snapshot day (pipelines/analytics/gamma_daily.py), their reconciliation check, the
picture, and the asset's atomic window replacement: no Dagster run, no dbt.

Chains are built as the rows the asset reads from marts.fct_option_chain_snapshot, with T computed the way that
model does (expiry 08:00 UTC minus the row's timestamp, over a 365-day year).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import subprocess
import sys
import zlib
from collections import defaultdict

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.analytics import gamma as G
from pipelines.analytics.gamma_daily import (
    CHAIN_COLUMNS,
    PROFILE_HI,
    PROFILE_LO,
    ChainArrays,
    gamma_day,
    gamma_tables_for_day,
    profile_levels,
    spot_from_index,
)
from pipelines.analytics.gamma_plot import DPI, FIGSIZE_IN, markdown_image, render_gamma_png
from pipelines.assets.gamma_exposure import FLIP_EVENTS_TABLE, TABLES, replace_windows, write_bytes_atomic
from pipelines.checks.gamma_checks import gamma_tables_reconcile, gex_totals_finite

DAY = dt.date(2025, 11, 21)
SNAP = dt.datetime(2025, 11, 21, 0, 30)  # the nightly snapshot time (naive UTC, as DuckDB's TIMESTAMP)
SPOT = 90_000.0
REL = 1e-9
HYP = settings(deadline=None, derandomize=True, database=None, max_examples=30,
               suppress_health_check=list(HealthCheck))


def chain_table(rows, snap: dt.datetime = SNAP, index: float | None = SPOT) -> pa.Table:
    """rows of (strike, expiry date, 'call'|'put', OI, mark_iv % or None, forward) -> the asset's chain rows."""
    cols = {c: [] for c in CHAIN_COLUMNS}
    for strike, expiry, kind, oi, mark_iv, forward in rows:
        expiry_ts = dt.datetime.combine(expiry, dt.time(8))
        cols["snapshot_ts"].append(snap)
        cols["expiry_date"].append(expiry)
        cols["strike"].append(strike)
        cols["time_to_expiry_years"].append((expiry_ts - snap).total_seconds() / (365 * 86400))
        cols["option_type"].append(kind)
        cols["open_interest"].append(oi)
        cols["mark_iv"].append(mark_iv)
        cols["forward_usd"].append(forward)
        cols["index_usd"].append(index)
    schema = pa.schema([("snapshot_ts", pa.timestamp("us")), ("expiry_date", pa.date32()), ("strike", pa.float64()),
                        ("time_to_expiry_years", pa.float64()), ("option_type", pa.string()),
                        ("open_interest", pa.float64()), ("mark_iv", pa.float64()), ("forward_usd", pa.float64()),
                        ("index_usd", pa.float64())])
    return pa.table(cols, schema=schema)


def day_of(rows, **kw):
    return gamma_day(DAY, ChainArrays.from_table(chain_table(rows, **kw)), currency="BTC")


def reconciled(g) -> None:
    outcome = gamma_tables_reconcile(g.summary, g.by_strike, g.by_expiry_strike, g.profile, g.regime_bands)
    assert outcome.passed, outcome.description
    assert gex_totals_finite(g.summary, g.by_strike, g.summary.column("snapshot_date").to_pylist()).passed


def assert_invariants(g) -> None:
    """The issue's exactness properties, stated directly (the reconcile check states them again, as a check)."""
    reconciled(g)
    (s,) = g.summary.to_pylist()
    strikes = g.by_strike.to_pylist()
    scale = math.fsum(abs(r["call_gex_usd"]) + abs(r["put_gex_usd"]) for r in strikes)
    # by-expiry sums equal by-strike totals
    acc = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in g.by_expiry_strike.to_pylist():
        for i, c in enumerate(("call_gex_usd", "put_gex_usd", "call_oi", "put_oi")):
            acc[r["strike"]][i] += r[c]
    assert sorted(acc) == [r["strike"] for r in strikes]
    for r in strikes:
        got = acc[r["strike"]]
        assert abs(got[0] - r["call_gex_usd"]) <= REL * scale and abs(got[1] - r["put_gex_usd"]) <= REL * scale
        assert got[2] == pytest.approx(r["call_oi"], rel=1e-12)
        assert got[3] == pytest.approx(r["put_oi"], rel=1e-12)
        assert r["net_gex_usd"] == r["call_gex_usd"] + r["put_gex_usd"]
    assert abs(math.fsum(r["net_gex_usd"] for r in strikes) - s["total_net_gex_usd"]) <= REL * scale
    # the profile at spot equals the total
    prof = dict(zip(g.profile.column("price_level_usd").to_pylist(), g.profile.column("net_gex_usd").to_pylist()))
    assert abs(prof[s["spot_usd"]] - s["total_net_gex_usd"]) <= REL * max(scale, 1e-300)
    # bands tile the grid and agree with the profile's sign
    bands = g.regime_bands.to_pylist()
    levels = sorted(prof)
    assert levels[0] == PROFILE_LO * s["spot_usd"] and levels[-1] == PROFILE_HI * s["spot_usd"]
    if any(v != 0 for v in prof.values()):
        assert bands[0]["low_usd"] == levels[0] and bands[-1]["high_usd"] == levels[-1]
        assert all(a["high_usd"] == b["low_usd"] and a["regime"] != b["regime"] for a, b in zip(bands, bands[1:]))
        for b in bands:
            sign = 1 if b["regime"] == "long_gamma" else -1
            assert all(prof[lv] * sign >= 0 for lv in levels if b["low_usd"] < lv < b["high_usd"])
        crossings = [b["low_usd"] for b in bands[1:]]
        np.testing.assert_array_equal(crossings, g.crossings)
        for c in crossings:
            assert c in prof and abs(prof[c]) <= 1e-6 * max(scale, 1.0)  # the exact crossings are on the profile
    else:
        assert bands == []


E1, E7, E30, E90 = (DAY + dt.timedelta(days=d) for d in (1, 7, 30, 90))


# ----------------------------------------------------------------------------------------------------------------
# the real chain of 2020-05-21, at the table level
# ----------------------------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}


def real_chain_table(path) -> pa.Table:
    rows = json.loads(path.read_text())["result"]
    cols = {c: [] for c in CHAIN_COLUMNS}
    for r in rows:
        _, code, strike, cp = r["instrument_name"].split("-")
        expiry = dt.date(2000 + int(code[-2:]), _MONTHS[code[-5:-2]], int(code[:-5]))
        ts = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=r["creation_timestamp"])
        cols["snapshot_ts"].append(ts)
        cols["expiry_date"].append(expiry)
        cols["strike"].append(float(strike))
        expiry_ts = dt.datetime.combine(expiry, dt.time(8))
        cols["time_to_expiry_years"].append((expiry_ts - ts).total_seconds() / (365 * 86400))
        cols["option_type"].append("call" if cp == "C" else "put")
        cols["open_interest"].append(r["open_interest"])
        cols["mark_iv"].append(r["mark_iv"])
        cols["forward_usd"].append(r["underlying_price"])
        cols["index_usd"].append(r["estimated_delivery_price"])
    return pa.table(cols)


def test_real_chain_tables_reconcile(real_fixtures):
    g = gamma_day(dt.date(2020, 5, 21), ChainArrays.from_table(
        real_chain_table(real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json")), currency="BTC")
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert s["spot_usd"] == 9081.63  # the index of the newest row, not the median ($9,085.20)
    assert (s["rows_used"], s["rows_excluded"]) == (257, 69)
    assert g.by_expiry_strike.num_rows > g.by_strike.num_rows == 58
    assert g.profile.num_rows == 401 + len(g.crossings) == 402
    assert [b["regime"] for b in g.regime_bands.to_pylist()] == ["short_gamma", "long_gamma"]


# ----------------------------------------------------------------------------------------------------------------
# random chains
# ----------------------------------------------------------------------------------------------------------------

_row = st.tuples(
    st.sampled_from([70_000.0, 80_000.0, 85_000.0, 88_000.0, 90_000.0, 92_000.0, 95_000.0, 100_000.0, 120_000.0]),
    st.sampled_from([DAY, E1, E7, E30, E90]),  # DAY: the 08:00 expiry of the snapshot day itself
    st.sampled_from(["call", "put"]),
    st.one_of(st.just(0.0), st.floats(0.1, 3000.0)),
    st.one_of(st.none(), st.floats(20.0, 150.0)),
    st.floats(SPOT * 0.98, SPOT * 1.04),
)


@HYP
@given(st.lists(_row, min_size=1, max_size=25))
def test_random_chains_reconcile(rows):
    g = day_of(rows)
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    ok = [r for r in rows if r[3] > 0 and r[4] is not None and r[4] > 0]  # 08:00 expiries: 7.5 h left at 00:30
    assert (s["rows_used"], s["rows_excluded"]) == (len(ok), len(rows) - len(ok))


# ----------------------------------------------------------------------------------------------------------------
# edge cases of the issue, at the table level
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snap", [dt.datetime(2025, 11, 21, 8, 0), dt.datetime(2025, 11, 21, 8, 0, 1),
                                  dt.datetime(2025, 11, 21, 23, 59)])
def test_expiry_at_0800_on_the_snapshot_day_is_excluded_and_counted(snap):
    expiring = [(90_000.0, DAY, "call", 500.0, 60.0, SPOT), (88_000.0, DAY, "put", 400.0, 65.0, SPOT)]
    later = [(90_000.0, E7, "call", 100.0, 55.0, SPOT * 1.002), (85_000.0, E7, "put", 80.0, 58.0, SPOT * 1.002)]
    g = day_of(expiring + later, snap=snap)
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert (s["rows_used"], s["rows_excluded"]) == (2, 2)
    assert set(g.by_expiry_strike.column("expiry_date").to_pylist()) == {E7}
    only_later = day_of(later, snap=snap)
    assert g.by_strike.equals(only_later.by_strike) and g.profile.equals(only_later.profile)


def test_expiry_later_on_the_snapshot_day_still_counts_before_0800():
    g = day_of([(90_000.0, DAY, "call", 10.0, 60.0, SPOT)], snap=dt.datetime(2025, 11, 21, 0, 30))
    assert g.summary.column("rows_used").to_pylist() == [1] and g.by_expiry_strike.num_rows == 1
    assert_invariants(g)


def test_single_option():
    g = day_of([(90_000.0, E7, "call", 50.0, 60.0, SPOT * 1.001)])
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert g.by_strike.num_rows == g.by_expiry_strike.num_rows == 1
    assert s["call_wall_usd"] == 90_000.0 and s["put_wall_usd"] is None and s["zero_gamma_usd"] is None
    assert g.regime_bands.to_pylist() == [{"snapshot_date": DAY, "currency": "BTC", "low_usd": SPOT * 0.5, "high_usd": SPOT * 1.5,
                                           "regime": "long_gamma", "dealer_convention": "long_calls_short_puts",
                                           "near_expiry_policy": "include", "t_floor_hours": None}]
    assert s["total_net_gex_usd"] == pytest.approx(float(G.option_gex(90_000.0, 7 / 365 - 0.5 / 24 / 365 + 8 / 24 / 365,
                                                                      True, 50.0, 0.6, SPOT * 1.001)[0]), rel=1e-12)


@pytest.mark.parametrize("kind,regime", [("call", "long_gamma"), ("put", "short_gamma")])
def test_all_calls_or_all_puts_one_band_no_crossing(kind, regime):
    rows = [(k, e, kind, 100.0, 60.0, SPOT) for k in (80_000.0, 90_000.0, 100_000.0) for e in (E7, E30)]
    g = day_of(rows)
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert s["regime"] == regime and s["zero_gamma_usd"] is None and g.crossings.size == 0
    assert [b["regime"] for b in g.regime_bands.to_pylist()] == [regime]
    assert (s["put_wall_usd"] is None) == (kind == "call") and (s["call_wall_usd"] is None) == (kind == "put")
    values = np.array(g.profile.column("net_gex_usd").to_pylist())
    assert np.all(values > 0) if kind == "call" else np.all(values < 0)


def test_several_crossings_alternate_and_zero_gamma_is_the_nearest():
    rows = [(80_000.0, E7, "put", 300.0, 30.0, SPOT), (88_000.0, E7, "call", 300.0, 30.0, SPOT),
            (96_000.0, E7, "put", 300.0, 30.0, SPOT), (104_000.0, E7, "call", 300.0, 30.0, SPOT)]
    g = day_of(rows)
    assert_invariants(g)
    assert len(g.crossings) >= 3
    bands = g.regime_bands.to_pylist()
    assert len(bands) == len(g.crossings) + 1
    (s,) = g.summary.to_pylist()
    assert s["zero_gamma_usd"] == g.crossings[np.argmin(np.abs(g.crossings - SPOT))]
    # each crossing is a real sign change of the exact profile, within $1
    args = ChainArrays.from_table(chain_table(rows)).args
    for c in g.crossings:
        lo, hi = G.gex_profile([c - 1.0, c + 1.0], SPOT, *args)
        assert lo * hi < 0


def test_zero_oi_and_missing_iv_are_excluded_and_counted_never_nan():
    good = [(90_000.0, E7, "call", 50.0, 60.0, SPOT), (85_000.0, E30, "put", 80.0, 70.0, SPOT)]
    bad = [(95_000.0, E7, "call", 0.0, 60.0, SPOT),  # zero OI: its strike has no other row, so it vanishes
           (85_000.0, E7, "put", 20.0, None, SPOT),  # missing mark IV
           (90_000.0, E30, "call", 10.0, 0.0, SPOT)]  # IV of 0
    g = day_of(good + bad)
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert (s["rows_used"], s["rows_excluded"]) == (2, 3)
    assert g.by_strike.column("strike").to_pylist() == [85_000.0, 90_000.0]
    clean = day_of(good)
    for table in ("by_strike", "by_expiry_strike", "profile", "regime_bands"):
        assert getattr(g, table).equals(getattr(clean, table)), table
    for table in (g.by_strike, g.by_expiry_strike, g.profile):
        for name in table.column_names[1:]:
            if pa.types.is_floating(table.schema.field(name).type) and name != "t_floor_hours":  # null unless floor
                assert np.all(np.isfinite(table.column(name).to_numpy())), name


def test_nothing_pricable_gives_zero_profile_no_bands_and_passes_the_checks():
    g = day_of([(90_000.0, E7, "call", 0.0, 60.0, SPOT), (90_000.0, E7, "put", 5.0, None, SPOT)])
    assert_invariants(g)
    (s,) = g.summary.to_pylist()
    assert g.by_strike.num_rows == g.by_expiry_strike.num_rows == g.regime_bands.num_rows == 0
    assert g.profile.num_rows == 401 and set(g.profile.column("net_gex_usd").to_pylist()) == {0.0}
    assert s["total_net_gex_usd"] == 0.0 and s["zero_gamma_usd"] is s["call_wall_usd"] is s["put_wall_usd"] is None
    assert s["rows_excluded"] == 2


def test_no_index_price_leaves_profile_and_bands_empty():
    g = day_of([(90_000.0, E7, "call", 10.0, 60.0, SPOT)], index=None)
    (s,) = g.summary.to_pylist()
    assert math.isnan(s["spot_usd"]) and s["zero_gamma_usd"] is None and s["gex_within_2pct_of_spot_usd"] == 0.0
    assert g.profile.num_rows == g.regime_bands.num_rows == 0 and s["total_net_gex_usd"] > 0


def test_spot_is_the_index_of_the_newest_row():
    stamps = np.array(["2020-05-21T23:19:53", "2020-05-21T23:22:35", "2020-05-21T23:22:35", "NaT"], "datetime64[us]")
    assert spot_from_index(np.array([9095.83, 9081.63, 9081.65, 1.0]), stamps) == pytest.approx(9081.64)
    assert math.isnan(spot_from_index(np.array([np.nan]), stamps[:1]))


def test_profile_grid_has_spot_and_the_ends_exactly():
    levels = profile_levels(9081.63)
    assert len(levels) == 401 and levels[200] == 9081.63
    assert levels[0] == 0.5 * 9081.63 and levels[-1] == 1.5 * 9081.63 and np.all(np.diff(levels) > 0)


def test_two_table_helper_matches_the_five_table_result():
    rows = [(90_000.0, E7, "call", 50.0, 60.0, SPOT), (85_000.0, E30, "put", 80.0, 70.0, SPOT)]
    g = day_of(rows)
    by_strike, summary = gamma_tables_for_day(DAY, ChainArrays.from_table(chain_table(rows)), currency="BTC")
    assert by_strike.equals(g.by_strike) and summary.equals(g.summary)


# ----------------------------------------------------------------------------------------------------------------
# the reconciliation check catches broken tables
# ----------------------------------------------------------------------------------------------------------------


def _replace(table: pa.Table, column: str, values) -> pa.Table:
    i = table.column_names.index(column)
    return table.set_column(i, column, pa.array(values, table.schema.field(column).type))


def test_reconcile_check_fails_on_inconsistent_tables():
    g = day_of([(80_000.0, E7, "put", 300.0, 30.0, SPOT), (88_000.0, E7, "call", 300.0, 30.0, SPOT),
                (96_000.0, E30, "put", 300.0, 30.0, SPOT)])
    args = (g.summary, g.by_strike, g.by_expiry_strike, g.profile, g.regime_bands)
    assert gamma_tables_reconcile(*args).passed
    calls = g.by_expiry_strike.column("call_gex_usd").to_pylist()
    broken_expiry = _replace(g.by_expiry_strike, "call_gex_usd", [v * 1.001 for v in calls])
    flipped = _replace(g.regime_bands, "regime", ["long_gamma" if r == "short_gamma" else "short_gamma"
                                                  for r in g.regime_bands.column("regime").to_pylist()])
    gap = _replace(g.regime_bands, "high_usd", [v - 1.0 for v in g.regime_bands.column("high_usd").to_pylist()])
    wrong_total = _replace(g.summary, "total_net_gex_usd", [g.summary.column("total_net_gex_usd")[0].as_py() + 1e3])
    for case, outcome in {
        "by expiry": gamma_tables_reconcile(g.summary, g.by_strike, broken_expiry, g.profile, g.regime_bands),
        "flipped bands": gamma_tables_reconcile(g.summary, g.by_strike, g.by_expiry_strike, g.profile, flipped),
        "gap": gamma_tables_reconcile(g.summary, g.by_strike, g.by_expiry_strike, g.profile, gap),
        "total": gamma_tables_reconcile(wrong_total, g.by_strike, g.by_expiry_strike, g.profile, g.regime_bands),
    }.items():
        assert not outcome.passed, case
        assert str(DAY) in outcome.description, case


# ----------------------------------------------------------------------------------------------------------------
# the picture
# ----------------------------------------------------------------------------------------------------------------

_SEVERAL = [(80_000.0, E7, "put", 300.0, 30.0, SPOT), (88_000.0, E7, "call", 300.0, 30.0, SPOT),
            (96_000.0, E7, "put", 300.0, 30.0, SPOT), (104_000.0, E30, "call", 300.0, 30.0, SPOT),
            (150_000.0, E90, "call", 10.0, 60.0, SPOT)]


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(png):
        (length,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + data)
        chunks.append((kind, data))
        pos += 12 + length
    return chunks


def test_picture_is_a_fixed_size_png_without_software_or_time_metadata():
    g = day_of(_SEVERAL)
    png = render_gamma_png(g.by_strike, g.profile, g.regime_bands, g.summary)
    chunks = _png_chunks(png)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tEXt", b"zTXt", b"iTXt", b"tIME"} & set(kinds)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (round(FIGSIZE_IN[0] * DPI), round(FIGSIZE_IN[1] * DPI))
    md = markdown_image(png, "gamma")
    assert md.startswith("![gamma](data:image/png;base64,") and md.endswith(")")


@pytest.mark.parametrize(
    "rows",
    [[(90_000.0, E7, "call", 50.0, 60.0, SPOT)],  # spot and walls but no zero gamma: two line styles marked
     [(90_000.0, E7, "call", 0.0, 60.0, SPOT)],  # no open interest: only spot
     []],  # no chain at all
    ids=["no-zero-gamma", "no-open-interest", "empty"],
)
def test_picture_of_a_day_missing_levels_renders_the_same_bytes_twice(rows):
    g = day_of(rows)
    png = render_gamma_png(g.by_strike, g.profile, g.regime_bands, g.summary)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert render_gamma_png(g.by_strike, g.profile, g.regime_bands, g.summary) == png


_RENDER_IN_CHILD = """
import sys
from pyarrow import feather
from pipelines.analytics.gamma_plot import render_gamma_png
tables = [feather.read_table(path) for path in sys.argv[1:]]
sys.stdout.buffer.write(render_gamma_png(*tables))
"""


def test_picture_is_byte_identical_on_rerun_and_in_another_process(tmp_path):
    from pyarrow import feather

    g = day_of(_SEVERAL)
    first = render_gamma_png(g.by_strike, g.profile, g.regime_bands, g.summary)
    again = day_of(_SEVERAL)
    assert render_gamma_png(again.by_strike, again.profile, again.regime_bands, again.summary) == first
    # A fresh interpreter (its own font cache, hash seed and matplotlib state) draws the same bytes.
    paths = []
    for name in ("by_strike", "profile", "regime_bands", "summary"):
        paths.append(str(tmp_path / f"{name}.arrow"))
        feather.write_feather(getattr(g, name), paths[-1])
    child = subprocess.run([sys.executable, "-c", _RENDER_IN_CHILD, *paths], capture_output=True, check=True)
    assert child.stdout == first
    path = tmp_path / "reports" / "gamma" / f"{DAY}.png"
    write_bytes_atomic(path, first)
    write_bytes_atomic(path, first)
    assert path.read_bytes() == first and [p.name for p in path.parent.iterdir()] == [path.name]


# ----------------------------------------------------------------------------------------------------------------
# atomic window replacement of the five tables
# ----------------------------------------------------------------------------------------------------------------


def _tables_of(days_rows: dict[dt.date, list]) -> dict[str, pa.Table]:
    from pipelines.assets.gamma_exposure import concat_days

    return concat_days([(d, "BTC", gamma_day(d, ChainArrays.from_table(chain_table(rows)), currency="BTC"))
                        for d, rows in days_rows.items()])


def _dump(conn) -> dict[str, list]:
    return {t: conn.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def test_replacing_a_window_twice_is_identical_and_leaves_other_days_alone():
    d1, d2 = DAY - dt.timedelta(days=1), DAY
    rows = {d1: [(90_000.0, E7, "call", 50.0, 60.0, SPOT)], d2: _SEVERAL}
    conn = duckdb.connect()
    replace_windows(conn, _tables_of(rows), d1, d2 + dt.timedelta(days=1))
    before = _dump(conn)
    assert all(before[t] for t in TABLES if t != FLIP_EVENTS_TABLE)  # no flip between these two days: no event
    replace_windows(conn, _tables_of({d2: _SEVERAL}), d2, d2 + dt.timedelta(days=1))
    assert _dump(conn) == before
    # a failure half-way leaves every table as it was (one transaction for all five)
    bad = _tables_of({d2: _SEVERAL})
    bad["marts.fct_gamma_summary_daily"] = bad["marts.fct_gamma_summary_daily"].drop_columns(["rows_excluded"])
    with pytest.raises(duckdb.Error):
        replace_windows(conn, bad, d2, d2 + dt.timedelta(days=1))
    assert _dump(conn) == before


def test_finite_check_counts_nulls_nans_and_infinities_and_names_missing_days():
    day, other = DAY, DAY + dt.timedelta(days=1)
    summary = pa.table({"snapshot_date": [day], "total_net_gex_usd": [float("nan")]})
    by_strike = pa.table({"net_gex_usd": pa.array([1.0, None, float("inf")]), "call_gex_usd": [1.0, 2.0, 3.0],
                          "put_gex_usd": [1.0, 2.0, -float("inf")]})
    outcome = gex_totals_finite(summary, by_strike, [day, other])
    assert not outcome.passed
    assert outcome.description == (f"no summary for {other}; 1 non-finite total_net_gex_usd; "
                                   "2 non-finite net_gex_usd; 1 non-finite put_gex_usd")
