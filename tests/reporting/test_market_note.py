"""The market note's rules on a hand-made warehouse whose story is known: every sentence the rules should choose is
stated here from the rows themselves, and every query the note lists gives its figures again when rerun as printed."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from report_warehouse import HOSTILE

from pipelines.reporting import market_note
from pipelines.reporting.market_note import build_note, render_html, render_markdown, round_threshold, write_note

DAY = dt.date(2025, 11, 20)
DAYS = [DAY - dt.timedelta(days=i) for i in range(59, -1, -1)]  # 60 days ending on DAY
CLOSES = [110_000.0 - 300.0 * i for i in range(58)] + [92_050.0, 89_907.0]
LIQ_BEFORE = [10e6 + 1e6 * i for i in range(30)]  # the 30 days before DAY
HASH_AVG = {DAY - dt.timedelta(days=i): v for i, v in enumerate([985.1, 990.0, 998.0, 1003.0, 1010.0])}
PEAK_DATE = dt.date(2025, 10, 19)
OI_BTC = [85_000.0, 49_316.0, 23_000.0]  # Binance, Bybit, OKX at the day's end
OI_USD = [7.6e9, 4.43e9, 2.07e9]
OI_START_USD = [8.4e9, 4.9e9, 2.2e9]
FLEETS = [("low_cost", 15.0, 0.04), ("mid_cost", 20.0, 0.06), ("high_cost", 30.0, 0.08)]
HASHPRICE = 45.12


def _create(conn: duckdb.DuckDBPyConnection, table: str, columns: dict) -> None:
    conn.register("rows", pa.table(columns))
    conn.execute(f"CREATE TABLE marts.{table} AS SELECT * FROM rows")
    conn.unregister("rows")


def build_story(path, *, skip: tuple[str, ...] = ()) -> str:
    tables = {
        "fct_btc_price_daily": {"date": DAYS, "close": CLOSES, "low": [c * 0.98 for c in CLOSES],
                                "high": [c * 1.01 for c in CLOSES]},
        "fct_price_level_events": {
            "date": [DAY - dt.timedelta(days=6), DAY - dt.timedelta(days=4), DAY],
            "level_usd": pa.array([92_000] * 3, pa.int32()),
            "direction": ["break_down", "break_up", "break_down"]},
        "fct_liquidations_daily": {
            "date": DAYS[-31:], "exchange": ["all"] * 31,
            "total_liquidated_usd": [*LIQ_BEFORE, 672.4e6], "long_liquidated_usd": [*LIQ_BEFORE, 672.4e6],
            "short_liquidated_usd": [0.0] * 31, "long_share_pct": [100.0] * 31},
        "fct_derivatives_daily": {  # the day before on Binance, then the day on three venues
            "date": [DAY - dt.timedelta(days=1), DAY, DAY, DAY], "exchange": ["binance", "binance", "bybit", "okx"],
            "funding_rate_daily": [0.0001, -0.000249, None, None],
            "top_trader_long_short_ratio": [1.40, 1.34, None, None], "global_long_short_ratio": [2.5, 2.69, None, None],
            "open_interest_btc": [90_000.0, *OI_BTC], "open_interest_change_btc": [None, -8_000.0, -4_114.0, -500.0],
            "open_interest_change_pct": [None, -7.9, -7.7, -2.1],
            "open_interest_usd": [8.3e9, *OI_USD], "open_interest_start_usd": [8.0e9, *OI_START_USD],
            "open_interest_change_usd": [0.3e9, *(e - s for e, s in zip(OI_USD, OI_START_USD))],
            "taker_buy_volume_btc": [20_000.0, 11_200.0, None, None],
            "taker_sell_volume_btc": [19_000.0, 14_000.0, None, None],
            "taker_buy_sell_ratio": [1.05, 0.8, None, None],
            "top_trader_position_ratio": [1.1, 0.92, None, None],
            "top_trader_long_position_share": [0.5238, 0.4792, None, None]},
        "fct_hashrate_daily": {
            "date": list(HASH_AVG), "hashrate_7d_avg_ehs": list(HASH_AVG.values()),
            "peak_7d_avg_ehs": [1_157.9] * 5, "peak_date": [PEAK_DATE] * 5,
            "drawdown_from_peak_pct": [(v / 1_157.9 - 1) * 100 for v in HASH_AVG.values()]},
        "fct_miner_revenue_daily": {
            "date": [DAY - dt.timedelta(days=30), DAY], "hashprice_usd_per_ph_day": [50.0, 45.12],
            "fee_share_pct": [1.5, 1.2], "revenue_usd": [45e6, 40e6]},
        "fct_gamma_summary_daily": {
            "snapshot_date": [DAY - dt.timedelta(days=1), DAY], "currency": ["BTC", "BTC"],
            "spot_usd": [92_050.0, 89_907.0], "total_net_gex_usd": [80e6, -120e6],
            "zero_gamma_usd": [91_000.0, 91_500.0], "call_wall_usd": [100_000.0, 100_000.0],
            "put_wall_usd": [85_000.0, 85_000.0], "regime": ["long_gamma", "short_gamma"],
            "dealer_convention": ["long_calls_short_puts"] * 2},
        "fct_hashprice_daily": {
            "date": [DAY], "hashprice_usd_per_ph_day": [HASHPRICE], "hashprice_30d_avg_usd_per_ph_day": [47.5],
            "days_in_30d_avg": pa.array([30], pa.int32()), "halving_epoch": pa.array([5], pa.int32()),
            "epoch_start_date": [dt.date(2024, 4, 20)], "days_since_halving": pa.array([579], pa.int32()),
            "pre_halving_30d_avg_usd_per_ph_day": [125.0], "pre_halving_days": pa.array([30], pa.int32()),
            "change_vs_pre_halving_pct": [(47.5 / 125 - 1) * 100]},
        "fct_miner_breakeven_daily": {
            "date": [DAY] * 3, "fleet_profile": [f[0] for f in FLEETS], "efficiency_j_per_th": [f[1] for f in FLEETS],
            "power_usd_per_kwh": [f[2] for f in FLEETS],
            "breakeven_hashprice_usd_per_ph_day": [f[1] * 24 * f[2] for f in FLEETS],
            "hashprice_usd_per_ph_day": [HASHPRICE] * 3,
            "margin_pct": [(1 - f[1] * 24 * f[2] / HASHPRICE) * 100 for f in FLEETS]},
        "fct_gamma_flip_events": {  # spot crossed below the flip; ETH's event of the day is not BTC's
            "snapshot_date": [DAY, DAY], "currency": ["BTC", "ETH"], "event": ["spot_crossed_flip", "flip_moved"],
            "direction": ["down", "up"], "previous_spot_usd": [92_050.0, 3_000.0],
            "previous_zero_gamma_usd": [91_000.0, 2_800.0], "flip_move_pct": [0.55, 5.0], "threshold_pct": [2.0, 2.0]},
        "fct_gamma_downside_daily": {
            "snapshot_date": [DAY, DAY], "currency": ["BTC", "ETH"], "short_gamma_peak_usd": [84_000.0, 2_500.0],
            "short_gamma_peak_gex_usd": [-150e6, -1e6], "accel_zone_low_usd": [80_000.0, 2_400.0],
            "accel_zone_high_usd": [88_000.0, 2_600.0], "put_oi_cluster_strike_usd": [75_000.0, 2_000.0],
            "put_oi_cluster_oi": [20_000.0, 1.0], "target_low_usd": [75_000.0, 2_000.0],
            "target_high_usd": [80_000.0, 2_400.0]},
        "fct_gamma_level_bands": {  # 88,000 is the configured level nearest spot (1,907 below; 92,000 is 2,093 above)
            "snapshot_date": [DAY] * 4, "currency": ["BTC"] * 4, "spot_usd": [89_907.0] * 4,
            "level_usd": [88_000.0, 89_907.0, 91_500.0, 92_000.0],
            "level_kind": ["configured", "spot", "zero_gamma", "configured"], "band_pct": [1.0] * 4,
            "strikes_in_band": pa.array([3, 3, 3, 3], pa.int32()), "net_gex_usd": [-30e6, -5e6, 1e6, 20e6],
            "gross_gex_usd": [70e6, 80e6, 90e6, 50e6], "oi_in_band": [9_000.0, 9_500.0, 10_000.0, 12_000.0],
            "oi_in_band_usd": [9_000 * 89_907.0, 9_500 * 89_907.0, 10_000 * 89_907.0, 12_000 * 89_907.0]},
        "fct_prediction_market_daily": {
            "date": [DAY - dt.timedelta(days=7), DAY], "market_id": ["m1", "m1"], "question": [HOSTILE, HOSTILE],
            "is_headline": [True, True], "yes_probability": [0.41, 0.25]},
    }
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        for table, columns in tables.items():
            if table not in skip:
                _create(conn, table, columns)
    return str(path)


@pytest.fixture
def story(tmp_path):
    conn = duckdb.connect(build_story(tmp_path / "story.duckdb"), read_only=True)
    yield conn
    conn.close()


def edited_note(tmp_path, *statements: str, skip: tuple[str, ...] = ()):
    """The day's note on the story warehouse after `statements` (what the test changes in its story)."""
    path = build_story(tmp_path / "edited.duckdb", skip=skip)
    with duckdb.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    with duckdb.connect(path, read_only=True) as conn:
        return build_note(conn, DAY)


def sentences(note) -> dict[str, str]:
    return {section.anchor: " ".join(s.text for s in section.sentences) for section in note.sections}


def test_price_and_leverage_say_what_the_rows_say(story):
    text = sentences(build_note(story, DAY))["price-leverage"]
    change = (CLOSES[-1] / CLOSES[-2] - 1) * 100
    assert f"BTC closed at $89,907 (consolidated across exchanges), down {abs(change):.1f}% on the day" in text
    # the level held since its last crossing the other way, 4 days before
    assert f"It closed below $92,000, a configured level it had closed above since {DAY - dt.timedelta(days=4)} " \
           "(4 days)." in text
    high = max(CLOSES)
    assert f"That is {abs((CLOSES[-1] / high - 1) * 100):.1f}% below the highest close of the last 60 days, " \
           f"$110,000 on {DAYS[0]}" in text
    assert "$672.4M of BTC positions were liquidated on Binance, Bybit and OKX, mostly longs (100% longs): the " \
           "largest day of the last 30." in text
    assert "Funding on Binance summed to -0.0249% over the day (shorts paid longs), turning negative from " \
           "+0.0100% the day before." in text
    # 14.10 of 15.50 billion: down 9.0%, 1.40 billion
    assert "Open interest in BTC perpetuals on Binance, Bybit and OKX fell 9.0% over the day (−$1.40B), to $14.10B " \
           "(157,316 BTC) at its end." in text
    assert "Takers on Binance's BTCUSDT perpetual bought 11,200 BTC and sold 14,000 (buy/sell 0.80): sellers " \
           "pressed." in text


def test_open_interest_change_is_left_out_when_a_venue_lacks_the_days_start(tmp_path):
    text = sentences(edited_note(tmp_path, "UPDATE marts.fct_derivatives_daily SET open_interest_start_usd = NULL, "
                                           "open_interest_change_usd = NULL WHERE exchange = 'okx'"))["price-leverage"]
    assert "Open interest in BTC perpetuals on Binance, Bybit and OKX was $14.10B (157,316 BTC) at its end." in text


def test_hash_rate_and_miners(story):
    text = sentences(build_note(story, DAY))["miners"]
    drawdown = (985.1 / 1_157.9 - 1) * 100
    assert (f"The network's 7-day average hash rate was 985.1 EH/s, {abs(drawdown):.1f}% below its 52-week peak "
            f"of 1,157.9 EH/s on {PEAK_DATE}.") in text
    last_above = max(d for d, v in HASH_AVG.items() if v >= 1000 and d < DAY)
    assert f"That is below 1,000 EH/s; it was last above on {last_above}." in text
    assert f"Hashprice was $45.12 per PH/s per day, down {abs((45.12 / 50 - 1) * 100):.1f}% from 30 days before; " \
           "fees were 1.2% of miners' revenue." in text
    assert f"Its 30-day average, $47.50, was {(1 - 47.5 / 125) * 100:.1f}% below the 30 days before the halving of " \
           "2024-04-20 ($125.00; 579 days since)." in text
    margin = {name: (1 - j * 24 * p / HASHPRICE) * 100 for name, j, p in FLEETS}
    assert margin["high_cost"] < 0 < margin["mid_cost"]
    assert ("Against the 3 configured fleets' power costs ($14.40 to $57.60 per PH/s per day), 1 mined at a loss on "
            f"power alone: high_cost (30 J/TH at $0.08/kWh), margin {margin['high_cost']:+.0f}%; the cheapest, "
            f"low_cost (15 J/TH at $0.04/kWh), kept {margin['low_cost']:.0f}% of hashprice.") in text


def test_fleets_that_all_cover_their_power_and_a_short_pre_halving_average(tmp_path):
    text = sentences(edited_note(tmp_path,
                                 "DELETE FROM marts.fct_miner_breakeven_daily WHERE fleet_profile = 'high_cost'",
                                 "UPDATE marts.fct_hashprice_daily SET pre_halving_days = 19"))["miners"]
    mid = (1 - 20 * 24 * 0.06 / HASHPRICE) * 100
    assert ("Against the 2 configured fleets' power costs ($14.40 to $28.80 per PH/s per day), every one covered its "
            f"power; the dearest, mid_cost (20 J/TH at $0.06/kWh), kept {mid:.0f}% of hashprice.") in text
    assert "halving" not in text  # 19 of the 30 pre-halving days: too few to compare


def test_gamma_flip_crossing_zone_and_walls(story):
    text = sentences(build_note(story, DAY))["gamma"]
    assert "Dealers were net short gamma in Deribit's BTC options: total net GEX −$120.0M per 1% move, with spot " \
           "at $89,907 (dealers taken to be long calls and short puts)." in text
    above = (91_500 / 89_907 - 1) * 100
    assert f"The zero-gamma level (the flip) sat at $91,500, {above:.1f}% above spot; spot crossed below the flip, " \
           "which was at $91,000 the day before." in text
    assert "flip_moved" not in text and "moved up" not in text  # ETH's event
    assert "Below the flip dealers are most short gamma at $84,000 (−$150.0M per 1% move); the acceleration zone, " \
           "where their hedging sells into a fall at least half as hard as there, runs from $88,000 down to " \
           "$80,000." in text
    assert "Under it the largest put open interest sits at the $75,000 strike (20,000 BTC): a downside target " \
           "range of $75,000 to $80,000." in text
    assert "Within ±1% of $88,000, the configured level nearest spot, dealers' net GEX was −$30.0M per 1% move " \
           "(gross $70.0M), on 9,000 BTC of open interest ($809.2M of options, not gamma)." in text


def test_a_flip_that_moved_past_its_threshold(tmp_path):
    text = sentences(edited_note(tmp_path, "UPDATE marts.fct_gamma_flip_events SET event = 'flip_moved', "
                                 "direction = 'up', flip_move_pct = 3.25, previous_zero_gamma_usd = 88_620 "
                                 "WHERE currency = 'BTC'"))["gamma"]
    assert "% above spot; the flip moved up 3.2% from $88,620 (more than 2%)." in text and "crossed" not in text
    assert "The call wall is at $100,000 and the put wall at $85,000" in text


def test_whales_retail_and_the_prediction_market(story):
    text = sentences(build_note(story, DAY))["whales-retail"]
    assert "top traders held 1.34 long accounts per short and all accounts 2.69: all accounts leaned longer than " \
           "the top traders; the top traders' ratio fell from 1.40 the day before." in text
    assert "Weighted by position size, the top traders held 0.92 long per short (47.9% of their positions long)." \
           in text
    assert f"\u201c{HOSTILE}\u201d 25%, down 16 points from a week before." in text


def test_what_to_watch_ranks_the_levels_nearest_the_close(story):
    text = sentences(build_note(story, DAY))["watch"]
    close = CLOSES[-1]
    expected = [(91_500, "the zero-gamma level"), (88_000, "the top of the acceleration zone"),
                (92_000, "a configured level"), (85_000, "the put wall")]  # the call wall, 11% above, is out
    listed = "; ".join(f"${level:,} ({what}, {(level / close - 1) * 100:+.1f}%)" for level, what in expected)
    assert f"Levels nearest the close of $89,907: {listed}." in text
    assert "With spot below the flip, dealers' hedging adds to moves; a fall would meet the acceleration zone of " \
           "$88,000 to $80,000, then the target range of $80,000 to $75,000." in text


def test_every_listed_query_gives_its_figures_again_when_rerun_as_printed(story):
    note = build_note(story, DAY)
    assert len(note.queries) >= 10
    for query in note.queries:
        result = story.execute(query.sql_as_run())
        names = [d[0] for d in result.description]
        assert tuple(dict(zip(names, row)) for row in result.fetchall()) == query.rows, query.number
    markdown = render_markdown(note)
    for query in note.queries:
        assert f"- **Q{query.number}** " in markdown and query.sql_as_run() in markdown
    # every sentence cites the queries it used, and only listed ones
    numbers = {query.number for query in note.queries}
    for section in note.sections:
        for sentence in section.sentences:
            assert sentence.refs and set(sentence.refs) <= numbers, sentence.text


def test_missing_tables_leave_their_sentences_out_and_are_named(tmp_path):
    note = edited_note(tmp_path, skip=("fct_gamma_summary_daily", "fct_hashrate_daily", "fct_gamma_downside_daily"))
    text = sentences(note)
    assert text["gamma"] == "" and "hash rate" not in text["miners"] and "Hashprice" in text["miners"]
    assert note.unanswered == ["marts.fct_hashrate_daily is not in this warehouse",
                               "marts.fct_gamma_summary_daily is not in this warehouse"]
    markdown = render_markdown(note)
    assert "Not answered by this warehouse: marts.fct_hashrate_daily is not in this warehouse; " \
           "marts.fct_gamma_summary_daily is not in this warehouse." in markdown
    assert "## Options gamma\n\nNo figures for 2025-11-20." in markdown


def test_marts_older_than_a_column_the_note_reads_leave_that_sentence_out(tmp_path):
    note = edited_note(tmp_path, "ALTER TABLE marts.fct_liquidations_daily DROP COLUMN long_share_pct")
    assert "liquidated" not in sentences(note)["price-leverage"] and "BTC closed at" in sentences(note)["price-leverage"]
    assert len(note.unanswered) == 1 and "long_share_pct" in note.unanswered[0]


def test_a_day_before_the_warehouse_says_there_are_no_figures(story):
    note = build_note(story, DAYS[0] - dt.timedelta(days=1))
    assert note.sentences() == []


def test_the_note_is_written_atomically_and_byte_identical_on_rerun(story, tmp_path):
    path, text = write_note(story, DAY, tmp_path / "notes", simulated=True)
    first = path.read_bytes()
    assert path.name == "2025-11-20.md" and first == text.encode() and text.startswith("# Market note, 2025-11-20")
    assert market_note.SIMULATED in text
    write_note(story, DAY, tmp_path / "notes", simulated=True)
    assert path.read_bytes() == first and sorted(p.name for p in path.parent.iterdir()) == ["2025-11-20.md"]


def test_the_html_fragment_escapes_the_warehouses_text(story):
    fragment = render_html(build_note(story, DAY))
    assert HOSTILE not in fragment and "&lt;script&gt;" in fragment
    assert fragment.startswith('<section id="note">') and fragment.endswith("</section>")


@pytest.mark.parametrize(("value", "scale", "expected"), [
    (985.1, 1_157.9, 1000), (928.6, 1_131.5, 1000), (1_450.0, 1_500.0, 1000), (1_500.0, 1_600.0, 2000),
    (620.0, 700.0, 600), (180.0, 250.0, 200), (45.0, 60.0, 50), (300.0, 1_100.0, 1000)])
def test_round_threshold_is_the_nearest_round_number_in_steps_of_the_peaks_magnitude(value, scale, expected):
    assert round_threshold(value, scale) == expected


@pytest.mark.parametrize(("names", "expected"), [([], ""), (["Binance"], "Binance"),
                                               (["Binance", "Bybit"], "Binance and Bybit"),
                                               (["Binance", "Bybit", "OKX"], "Binance, Bybit and OKX")])
def test_venues_are_listed_as_prose(names, expected):
    assert market_note.listed(names) == expected


@pytest.mark.parametrize(("change", "expected"), [(0.2, "little changed (+0.20%)"), (-0.24, "little changed (-0.24%)"),
                                                  (2.34, "up 2.3%"), (-7.7, "down 7.7%")])
def test_moves_within_the_threshold_read_as_little_changed(change, expected):
    assert market_note.moved(change, market_note.LITTLE_CHANGED_PCT) == expected
