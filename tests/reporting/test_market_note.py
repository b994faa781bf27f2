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
        "fct_derivatives_daily": {
            "date": [DAY - dt.timedelta(days=1), DAY, DAY], "exchange": ["binance", "binance", "bybit"],
            "funding_rate_daily": [0.0001, -0.000249, None],
            "top_trader_long_short_ratio": [1.40, 1.34, None], "global_long_short_ratio": [2.5, 2.69, None],
            "open_interest_btc": [None, None, 49_316.0], "open_interest_change_btc": [None, None, -4_114.0],
            "open_interest_change_pct": [None, None, -7.7]},
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
            "put_wall_usd": [85_000.0, 85_000.0], "regime": ["long_gamma", "short_gamma"]},
        "fct_gamma_regime_bands": {
            "snapshot_date": [DAY] * 3, "currency": ["BTC", "BTC", "ETH"], "low_usd": [70_000.0, 91_500.0, 1.0],
            "high_usd": [91_500.0, 130_000.0, 2.0], "regime": ["short_gamma", "long_gamma", "short_gamma"]},
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
    assert "Open interest on Bybit's BTCUSDT perpetual fell 7.7% over the day, to 49,316 BTC." in text


def test_hash_rate_and_miners(story):
    text = sentences(build_note(story, DAY))["miners"]
    drawdown = (985.1 / 1_157.9 - 1) * 100
    assert (f"The network's 7-day average hash rate was 985.1 EH/s, {abs(drawdown):.1f}% below its 52-week peak "
            f"of 1,157.9 EH/s on {PEAK_DATE}.") in text
    last_above = max(d for d, v in HASH_AVG.items() if v >= 1000 and d < DAY)
    assert f"That is below 1,000 EH/s; it was last above on {last_above}." in text
    assert f"Hashprice was $45.12 per PH/s per day, down {abs((45.12 / 50 - 1) * 100):.1f}% from 30 days before; " \
           "fees were 1.2% of miners' revenue." in text


def test_gamma_flip_crossing_zone_and_walls(story):
    text = sentences(build_note(story, DAY))["gamma"]
    assert "Dealers were net short gamma in Deribit's BTC options: total net GEX −$120.0M per 1% move, with spot " \
           "at $89,907." in text
    above = (91_500 / 89_907 - 1) * 100
    assert f"The zero-gamma level (the flip) sat at $91,500, {above:.1f}% above spot; spot crossed below the flip, " \
           "which was at $91,000 the day before." in text
    # the BTC short band spot is in; the ETH band of the same day is not BTC's
    assert "short gamma from $91,500 down to $70,000" in text
    assert "The call wall is at $100,000 and the put wall at $85,000" in text


def test_whales_retail_and_the_prediction_market(story):
    text = sentences(build_note(story, DAY))["whales-retail"]
    assert "top traders held 1.34 long accounts per short and all accounts 2.69: all accounts leaned longer than " \
           "the top traders; the top traders' ratio fell from 1.40 the day before." in text
    assert f"\u201c{HOSTILE}\u201d 25%, down 16 points from a week before." in text


def test_what_to_watch_ranks_the_levels_nearest_the_close(story):
    text = sentences(build_note(story, DAY))["watch"]
    close = CLOSES[-1]
    expected = [(91_500, "the zero-gamma level and the top of the acceleration zone"), (92_000, "a configured level"),
                (85_000, "the put wall")]  # the call wall, 11% above, is out of the ±10% band
    listed = "; ".join(f"${level:,} ({what}, {(level / close - 1) * 100:+.1f}%)" for level, what in expected)
    assert f"Levels nearest the close of $89,907: {listed}." in text
    assert "With spot below the flip, dealers' hedging adds to moves; a fall would meet the acceleration zone of " \
           "$91,500 to $70,000." in text


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
    path = build_story(tmp_path / "partial.duckdb", skip=("fct_gamma_summary_daily", "fct_hashrate_daily"))
    with duckdb.connect(path, read_only=True) as conn:
        note = build_note(conn, DAY)
    text = sentences(note)
    assert text["gamma"] == "" and "hash rate" not in text["miners"] and "Hashprice" in text["miners"]
    assert note.unanswered == ["marts.fct_hashrate_daily is not in this warehouse",
                               "marts.fct_gamma_summary_daily is not in this warehouse"]
    markdown = render_markdown(note)
    assert "Not answered by this warehouse: marts.fct_hashrate_daily is not in this warehouse; " \
           "marts.fct_gamma_summary_daily is not in this warehouse." in markdown
    assert "## Options gamma\n\nNo figures for 2025-11-20." in markdown


def test_marts_older_than_a_column_the_note_reads_leave_that_sentence_out(tmp_path):
    path = build_story(tmp_path / "old.duckdb")
    with duckdb.connect(path) as conn:
        conn.execute("ALTER TABLE marts.fct_liquidations_daily DROP COLUMN long_share_pct")
    with duckdb.connect(path, read_only=True) as conn:
        note = build_note(conn, DAY)
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


@pytest.mark.parametrize(("change", "expected"), [(0.2, "little changed (+0.20%)"), (-0.24, "little changed (-0.24%)"),
                                                  (2.34, "up 2.3%"), (-7.7, "down 7.7%")])
def test_moves_within_the_threshold_read_as_little_changed(change, expected):
    assert market_note.moved(change, market_note.LITTLE_CHANGED_PCT) == expected
