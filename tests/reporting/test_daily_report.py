"""The daily HTML report from a small hand-made warehouse (tests/reporting/conftest.py)."""

from __future__ import annotations

import base64
import datetime as dt
import re

import duckdb
import pytest
from report_warehouse import DAYS, GAMMA_DAY, HOSTILE, build_report_warehouse

from pipelines.reporting.daily_report import render_daily_report
from pipelines.reporting.day_data import window_start
from pipelines.reporting.headline import describe_level_events, headline_rows, pct, usd, usd_millions
from pipelines.reporting.html_page import Section, e, section_html

HEADINGS = (
    "Headline numbers",
    "Price, liquidations and level breaks",
    "Hash rate against its 52-week peak",
    "Hashprice",
    "Dealer gamma exposure by strike",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def png_chunk_types(png: bytes) -> list[bytes]:
    types, at = [], len(PNG_SIGNATURE)
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        types.append(png[at + 4:at + 8])
        at += 12 + length
    return types


@pytest.fixture(scope="module")
def full_day(tmp_path_factory) -> tuple:
    """The report of the day with every section, rendered once for the tests that only read it (~2 s each)."""
    folder = tmp_path_factory.mktemp("full_day")
    db = build_report_warehouse(folder / "warehouse.duckdb")
    with duckdb.connect(str(db), read_only=True) as conn:
        path = render_daily_report(conn, GAMMA_DAY, folder / "reports")
    return folder, path, path.read_text(encoding="utf-8")


def test_report_has_every_section_and_a_picture_per_plot(full_day):
    folder, path, page = full_day
    assert path == folder / "reports" / "2025-11-21.html"
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in page
    pictures = images(page)
    assert page.count("<img ") == len(pictures) == 4
    assert all(png.startswith(PNG_SIGNATURE) for png in pictures)
    assert "No data for" not in page
    assert "$88,820 (range $87,044 – $90,596)" in page  # a headline figure
    assert "2025-11-21: spot $88,500, zero gamma $86,700" in page  # the gamma caption


def test_report_is_self_contained(full_day):
    page = full_day[2]
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # no resource from anywhere but the page itself
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page.replace("&#x27;", "'")


def test_text_from_the_warehouse_is_escaped(full_day):
    page = full_day[2]
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


def test_rerun_is_byte_identical_and_pngs_carry_no_timestamp(report_db, tmp_path):
    with duckdb.connect(str(report_db), read_only=True) as conn:
        first = render_daily_report(conn, GAMMA_DAY, tmp_path / "a").read_bytes()
    with duckdb.connect(str(report_db), read_only=True) as conn:
        second = render_daily_report(conn, GAMMA_DAY, tmp_path / "b").read_bytes()
    assert first == second
    for png in images(first.decode("utf-8")):
        chunks = png_chunk_types(png)
        assert b"tIME" not in chunks and b"tEXt" not in chunks and b"iTXt" not in chunks, chunks


def test_a_day_without_data_renders_a_note_in_every_section(report_conn, tmp_path):
    day = dt.date(2025, 11, 25)
    page = render_daily_report(report_conn, day, tmp_path).read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in page
    assert page.count('<p class="no-data">No data for 2025-11-25') == len(HEADINGS)
    assert "<img " not in page


def test_a_demo_page_says_it_is_simulated_data_and_a_live_one_does_not(report_conn, tmp_path):
    day = DAYS[3]
    demo = render_daily_report(report_conn, day, tmp_path / "demo", simulated=True).read_text(encoding="utf-8")
    live = render_daily_report(report_conn, day, tmp_path / "live").read_text(encoding="utf-8")
    assert f"<title>Bitcoin market stress, {day} (simulated data)</title>" in demo
    assert demo.count('<p class="simulated" role="note">Simulated data: ') == 1
    assert "Simulated data" not in live and "(simulated data)" not in live


def test_a_day_with_prices_but_no_option_snapshot(report_conn, tmp_path):
    day = DAYS[3]
    page = render_daily_report(report_conn, day, tmp_path).read_text(encoding="utf-8")
    assert len(images(page)) == 3
    assert "No data for 2025-11-20: marts.fct_gamma_summary_daily has no row for 2025-11-20." in page
    assert "n/a" in page  # the dashboard row has no gamma figures that day
    assert "levels: closed below $92,000" in page  # the price caption names the day's break


def test_a_warehouse_without_the_gamma_tables(tmp_path):
    db = build_report_warehouse(tmp_path / "no_gamma.duckdb", with_gamma=False)
    with duckdb.connect(str(db), read_only=True) as conn:
        page = render_daily_report(conn, GAMMA_DAY, tmp_path).read_text(encoding="utf-8")
    assert "marts.fct_gamma_exposure_by_strike is not in this warehouse" in page
    assert len(images(page)) == 3


def test_the_first_day_of_history_has_a_one_point_window(report_conn, tmp_path):
    page = render_daily_report(report_conn, DAYS[0], tmp_path).read_text(encoding="utf-8")
    assert len(images(page)) == 3  # price, hash rate and hashprice from a single day; no gamma that day


def test_rerendering_replaces_the_file_without_leaving_temporaries(report_conn, tmp_path):
    out = tmp_path / "reports"
    render_daily_report(report_conn, DAYS[0], out)
    render_daily_report(report_conn, DAYS[0], out)
    assert sorted(p.name for p in out.iterdir()) == ["2025-11-17.html"]


# --- pure pieces ---------------------------------------------------------------------------------------------


def test_window_start_includes_the_day():
    assert window_start(dt.date(2025, 11, 21), 60) == dt.date(2025, 9, 23)
    assert window_start(dt.date(2025, 11, 21), 1) == dt.date(2025, 11, 21)


def test_level_events_read_as_sentences():
    assert describe_level_events("") == "none"
    assert describe_level_events(None) == "none"
    assert describe_level_events("break_down 92000, break_up 88000") == "closed below $92,000; closed above $88,000"
    assert describe_level_events("something else") == "something else"


def test_number_formats_say_n_a_for_missing_values():
    assert usd(None) == usd(float("nan")) == usd_millions(None) == pct(None) == "n/a"
    assert usd(88_819.855) == "$88,820"
    assert usd_millions(17_755_623.0) == "$17.8M"
    assert pct(-16.946) == "-16.9%"
    assert pct(21.5, signed=False) == "21.5%"


def test_headline_rows_of_a_sparse_row():
    row = {name: None for name in ("close", "low", "high", "level_events", "long_liquidated_usd",
                                   "short_liquidated_usd", "total_liquidated_usd", "funding_rate_daily",
                                   "open_interest_btc", "open_interest_change_pct", "hashrate_7d_avg_ehs",
                                   "hashrate_drawdown_from_peak_pct", "hashrate_peak_date",
                                   "hashprice_usd_per_ph_day", "yes_probability", "total_net_gex_usd",
                                   "zero_gamma_usd", "call_wall_usd", "put_wall_usd", "gamma_regime")}
    rows = dict(headline_rows(row))
    assert rows["Open interest (Bybit)"] == "n/a"
    assert rows["Dealer gamma, total net GEX"] == "n/a per 1% move (n/a)"
    assert rows["Liquidations"] == "longs n/a, shorts n/a (total n/a)"


def test_headline_rows_of_a_full_row():
    row = {"close": 88_819.855, "low": 87_662.95, "high": 90_701.83, "level_events": "break_down 92000",
           "long_liquidated_usd": 17.76e6, "short_liquidated_usd": 0.71e6, "total_liquidated_usd": 18.47e6,
           "funding_rate_daily": -0.00057765, "open_interest_btc": 51_454.1, "open_interest_change_pct": -1.476,
           "hashrate_7d_avg_ehs": 939.76, "hashrate_drawdown_from_peak_pct": -16.95,
           "hashrate_peak_date": dt.date(2025, 10, 19), "hashprice_usd_per_ph_day": 39.3336, "yes_probability": 0.215,
           "total_net_gex_usd": 105.03e6, "zero_gamma_usd": 86_731.66, "call_wall_usd": 90_000.0,
           "put_wall_usd": 90_000.0, "gamma_regime": "long_gamma"}
    rows = dict(headline_rows(row))
    assert rows["BTC close (consolidated)"] == "$88,820 (range $87,663 – $90,702)"
    assert rows["Liquidations"] == "longs $17.8M, shorts $0.7M (total $18.5M, 96% longs)"
    assert rows["Funding (Binance, day's sum)"] == "-0.0578%"
    assert rows["Open interest (Bybit)"] == "51,454 BTC (-1.48% on the day)"
    assert rows["Hash rate, 7-day average"] == "939.8 EH/s, -16.9% from its peak of 2025-10-19"
    assert rows["Prediction market, YES"] == "21.5%"
    assert rows["Dealer gamma, total net GEX"] == "$105.0M per 1% move (long gamma)"


@pytest.mark.parametrize("field", ["title", "caption", "alt", "note"])
def test_every_section_text_is_escaped(field):
    values = {"title": "t", "caption": "c", "alt": "a", "note": None, "png": PNG_SIGNATURE}
    if field == "note":
        values["png"] = None
    values[field] = "<b>&\"'"
    page = section_html(Section("s", **values))
    assert "<b>" not in page
    assert e("<b>&\"'") in page
