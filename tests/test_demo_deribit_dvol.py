"""The demo's Deribit volatility index (get_volatility_index_data): wire format, the option models' level, OHLC, the
row cap and continuation paging, no future, determinism and the API's errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.dvol import MINUTE_WIGGLE
from pipelines.demo.endpoints_options_prediction import DVOL_MAX_CANDLES
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.demo.options import OptionChainModel
from pipelines.ingest.envelopes import classify_envelope
from pipelines.ingest.errors import ParseError
from pipelines.ingest.extract import stitch_pages
from pipelines.sources.deribit_dvol import BTC_DVOL, DVOL_SINCE, ETH_DVOL, next_dvol_page

URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"
NOW = dt.datetime(2025, 11, 22, 0, 30)  # the nightly after the demo window's last day (naive UTC)
NOW_MS = 1763771400000
MS_PER_HOUR, MS_PER_DAY = 3_600_000, 86_400_000
LAST_MS = 1763683200000  # 2025-11-21 00:00 UTC


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


def ask(api: DemoApi, currency: str, start: int, end: int, resolution: str = "1D", now: dt.datetime = NOW) -> dict:
    status, body = api.respond(URL, {"currency": currency, "start_timestamp": str(start), "end_timestamp": str(end),
                                     "resolution": resolution}, now)
    assert status == 200, body[:300]
    return json.loads(body)


def candles(api: DemoApi, currency: str, first: dt.date, last: dt.date, resolution: str = "1D") -> list[list]:
    return ask(api, currency, ms(first), ms(last) + MS_PER_DAY - 1, resolution)["result"]["data"]


def test_the_wire_format_is_deribits_json_rpc_with_candles_oldest_first(api):
    body = ask(api, "BTC", ms(dt.date(2025, 11, 1)), LAST_MS + MS_PER_DAY - 1)
    assert list(body) == ["jsonrpc", "result", "usIn", "usOut", "usDiff", "testnet"]
    assert body["jsonrpc"] == "2.0" and body["usOut"] == NOW_MS * 1000 and body["testnet"] is False
    assert list(body["result"]) == ["data", "continuation"] and body["result"]["continuation"] is None
    data = body["result"]["data"]
    assert [row[0] for row in data] == [ms(dt.date(2025, 11, 1)) + k * MS_PER_DAY for k in range(21)]
    for row in data:
        assert len(row) == 5 and isinstance(row[0], int) and all(isinstance(v, float) for v in row[1:])
        assert all(round(v, 2) == v for v in row[1:])  # 2 decimals, as Deribit publishes the index


@pytest.mark.parametrize("currency", ["BTC", "ETH"])
def test_a_day_opens_at_100_times_its_option_models_30_day_atm_iv(api, currency):
    chain = api.options if currency == "BTC" else api.eth_options
    assert chain.params.currency == currency
    for row in candles(api, currency, dt.date(2025, 10, 1), dt.date(2025, 11, 21)):
        day = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=row[0])
        level = 100 * float(chain.atm_iv(day, np.array([30 / 365]))[0])
        assert row[1] == round(level, 2), (currency, day)
        # a small wiggle around it: within ~6 sd of a day's walk
        assert abs(np.log(row[4] / level)) < 6 * MINUTE_WIGGLE * np.sqrt(1440)


def test_btc_and_eth_are_two_indexes(api):
    btc = candles(api, "BTC", dt.date(2025, 11, 1), dt.date(2025, 11, 21))
    eth = candles(api, "ETH", dt.date(2025, 11, 1), dt.date(2025, 11, 21))
    assert [r[0] for r in btc] == [r[0] for r in eth] and all(b[1:] != e[1:] for b, e in zip(btc, eth))
    assert np.mean([e[4] for e in eth]) > np.mean([b[4] for b in btc])  # ETH moves more than BTC in the demo


@pytest.mark.parametrize("currency", ["BTC", "ETH"])
def test_every_daily_candle_of_two_years_is_a_consistent_candle_that_moved(api, currency):
    rows = candles(api, currency, dt.date(2023, 11, 22), dt.date(2024, 11, 20)) + candles(
        api, currency, dt.date(2024, 11, 21), dt.date(2025, 11, 21))
    assert len(rows) == 731
    for stamp, o, h, lo, c in rows:
        assert lo <= min(o, c) <= max(o, c) <= h, stamp
        assert lo < h and 5 < lo and h < 500, stamp  # the quality rules' band
    assert sum(o != c for _, o, _, _, c in rows) > 700


def test_a_daily_candle_is_its_hours_and_its_half_days(api):
    day = dt.date(2025, 11, 20)
    [daily] = candles(api, "ETH", day, day)
    for resolution, count in (("3600", 24), ("43200", 2)):
        parts = candles(api, "ETH", day, day, resolution)
        assert [p[0] for p in parts] == [ms(day) + k * MS_PER_DAY // count for k in range(count)]
        assert daily == [ms(day), parts[0][1], max(p[2] for p in parts), min(p[3] for p in parts), parts[-1][4]]
    minutes = ask(api, "ETH", ms(day), ms(day) + MS_PER_HOUR - 1, "60")["result"]["data"]
    seconds = ask(api, "ETH", ms(day), ms(day) + 59_999, "1")["result"]["data"]
    assert len(minutes) == 60 and minutes[0][1:] == [daily[1]] * 4  # a minute holds one value
    assert len(seconds) == 60 and {tuple(s[1:]) for s in seconds} == {(daily[1],) * 4}


def test_no_candle_starts_after_now_and_the_one_trading_is_served_as_far_as_it_has_gone(api):
    body = ask(api, "BTC", LAST_MS - MS_PER_DAY, LAST_MS + 10 * MS_PER_DAY)  # a window reaching into the future
    data = body["result"]["data"]
    assert [row[0] for row in data] == [LAST_MS - MS_PER_DAY, LAST_MS, LAST_MS + MS_PER_DAY]
    today = data[-1]  # 2025-11-22, 30 minutes old: its first 31 minutes
    minutes = ask(api, "BTC", LAST_MS + MS_PER_DAY, NOW_MS + MS_PER_HOUR, "60")["result"]["data"]
    assert [m[0] for m in minutes] == [LAST_MS + MS_PER_DAY + k * 60_000 for k in range(31)]
    assert today == [LAST_MS + MS_PER_DAY, minutes[0][1], max(m[2] for m in minutes), min(m[3] for m in minutes),
                     minutes[-1][4]]
    # The parser refuses the open candle; asked for at noon, the day holds its first 12 hours.
    request = BTC_DVOL.build_request(dt.date(2025, 11, 22))
    status, page = api.respond(URL, request.params, NOW)
    with pytest.raises(ParseError, match="candle still open"):
        BTC_DVOL.parse(page, dt.date(2025, 11, 22), NOW.replace(tzinfo=dt.UTC), request.params)
    noon = ask(api, "BTC", LAST_MS + MS_PER_DAY, LAST_MS + 2 * MS_PER_DAY - 1, "3600", NOW.replace(hour=12))
    assert len(noon["result"]["data"]) == 13  # 00:00 … 12:00, the 12:00 candle just opened
    assert ask(api, "BTC", NOW_MS + MS_PER_HOUR, NOW_MS + MS_PER_DAY)["result"]["data"] == []


def test_nothing_before_the_first_day_deribit_serves(api):
    data = candles(api, "BTC", DVOL_SINCE - dt.timedelta(days=5), DVOL_SINCE + dt.timedelta(days=1))
    assert [row[0] for row in data] == [ms(DVOL_SINCE), ms(DVOL_SINCE + dt.timedelta(days=1))]


def test_an_answer_holds_1000_candles_the_newest_and_a_continuation_walks_back_to_the_rest(api):
    # 1000 hourly candles: one page, no continuation; one more: the newest 1000 and where to continue.
    end = LAST_MS + MS_PER_DAY - 1
    start = LAST_MS + MS_PER_DAY - DVOL_MAX_CANDLES * MS_PER_HOUR
    whole = ask(api, "BTC", start, end, "3600")["result"]
    assert len(whole["data"]) == 1000 and whole["continuation"] is None
    cut = ask(api, "BTC", start - MS_PER_HOUR, end, "3600")["result"]
    assert cut["data"] == whole["data"] and cut["continuation"] == start  # the oldest candle served
    rest = ask(api, "BTC", start - MS_PER_HOUR, cut["continuation"], "3600")["result"]
    assert [r[0] for r in rest["data"]] == [start - MS_PER_HOUR, start] and rest["continuation"] is None
    assert rest["data"][1] == whole["data"][0]  # the candle at the continuation comes again: kept once by key


def test_the_pipeline_pages_a_day_with_continuation_and_stitches_the_pages(api):
    """The walk `next_dvol_page` does when an answer holds less than its window: a day's request widened to 1200
    days, which the demo answers in two pages (the newest 1000 days, then the rest from the continuation)."""
    day = dt.date(2025, 11, 20)
    request = BTC_DVOL.build_request(day)
    request = dataclasses.replace(request, params={**request.params,
                                                   "start_timestamp": str(ms(day) - 1199 * MS_PER_DAY)})
    pages, at = [], scheduled_fetch_time(day)
    while request is not None:
        status, body = api.respond(request.url, request.params, at)
        assert status == 200
        pages.append((body, request.params))
        request = next_dvol_page(request, body)
    assert len(pages) == 2
    assert [int(p["end_timestamp"]) for _, p in pages] == [ms(day) + MS_PER_DAY - 1, ms(day) - 999 * MS_PER_DAY]
    rows = {}
    for body, params in pages:
        for stamp, *ohlc in json.loads(body)["result"]["data"]:
            assert rows.setdefault(stamp, ohlc) == ohlc  # the repeated boundary candle is the same candle
    assert sorted(rows) == [ms(day) - k * MS_PER_DAY for k in range(1199, -1, -1)]
    # Each page parses (the day is on the newest one; the other holds older days only).
    tables = [BTC_DVOL.parse(pages[0][0], day, at, pages[0][1])]
    assert stitch_pages(BTC_DVOL, day, tables).num_rows == 1
    old = day - dt.timedelta(days=1100)
    assert BTC_DVOL.parse(pages[1][0], old, at, pages[1][1]).to_pylist()[0]["close"] == rows[ms(old)][3]


def test_same_request_same_bytes_from_fresh_models_and_another_order():
    params = {"currency": "ETH", "start_timestamp": str(ms(dt.date(2025, 9, 1))), "end_timestamp": str(NOW_MS),
              "resolution": "1D"}
    shared = DemoApi()
    market = MarketModel()
    fresh = DemoApi(market, MiningModel(), OptionChainModel(market))
    fresh.respond(URL, dict(params, resolution="3600", currency="BTC"), NOW)  # fill caches in another order
    first = shared.respond(URL, params, NOW)
    assert shared.respond(URL, params, NOW) == first == fresh.respond(URL, params, NOW)
    fetcher = DemoFetcher()
    for spec in (BTC_DVOL, ETH_DVOL):
        request = spec.build_request(dt.date(2025, 11, 21))
        assert fetcher.fetch(request).body == DemoFetcher(DemoApi()).fetch(request).body


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, {"reason": "required", "param": "currency"}),
        ({"currency": "SOL"}, {"reason": "must be one of the following: BTC, ETH, USDC, USDT, EURR",
                               "param": "currency"}),
        ({"currency": "BTC"}, {"reason": "required", "param": "start_timestamp"}),
        ({"currency": "BTC", "start_timestamp": "1", "end_timestamp": "soon"},
         {"reason": "must be integer", "param": "end_timestamp"}),
        ({"currency": "BTC", "start_timestamp": "1", "end_timestamp": "2"}, {"reason": "required", "param": "resolution"}),
        ({"currency": "BTC", "start_timestamp": "1", "end_timestamp": "2", "resolution": "1d"},
         {"reason": "must be one of the following: 1, 60, 3600, 43200, 1D", "param": "resolution"}),
    ],
)
def test_invalid_params_are_refused_in_deribits_error_envelope(api, params, error):
    status, body = api.respond(URL, params, NOW)
    doc = json.loads(body)
    assert status == 400 and doc["error"] == {"message": "Invalid params", "data": error, "code": -32602}
    assert classify_envelope("deribit", body).reason == "error envelope -32602 Invalid params"


def test_a_currency_without_an_index_in_the_demo_and_a_reversed_window_answer_no_candles(api):
    assert ask(api, "USDC", LAST_MS, LAST_MS + MS_PER_DAY)["result"] == {"data": [], "continuation": None}
    assert ask(api, "BTC", LAST_MS, LAST_MS - MS_PER_DAY)["result"] == {"data": [], "continuation": None}
