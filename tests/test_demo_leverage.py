"""Demo leverage endpoints of issue 18: Binance's top-trader position ratio, taker buy/sell volume and open interest
history, OKX's rubik open-interest history, and the day's open interest on Bybit. Wire formats and limits, and the
story they tell with the rest of the demo market: open interest falls on the cascade days on every venue, those days
are heavy taker-sell days, USD values are the BTC values at the index price of the instant."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.endpoints_derivatives import derivatives_model
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.sources import binance_futures, bybit, okx

UTC = dt.timezone.utc
WINDOW = [dt.date(2025, 10, 1) + dt.timedelta(days=i) for i in range(52)]  # 2025-10-01 .. 2025-11-21
SPECS = (binance_futures.TOP_TRADER_POSITION_RATIO, binance_futures.TAKER_VOLUME, binance_futures.OPEN_INTEREST_DAY,
         bybit.OPEN_INTEREST_DAY, okx.OPEN_INTEREST_DAY)
NOW = dt.datetime(2025, 11, 21, 13, 7, 21, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def fetch(api: DemoApi, spec, day: dt.date) -> dict:
    """The day's row as the nightly run loads it (sent at the scheduled time after the day)."""
    now = scheduled_fetch_time(day)
    request = spec.request_for(day, now)
    status, body = api.respond(request.url, request.params, now)
    assert status == 200, body[:200]
    table = spec.parse(body, day, now)
    assert table.schema == spec.raw_schema and table.num_rows == 1
    return table.to_pylist()[0]


@pytest.fixture(scope="module")
def window(api):
    return {spec.name: {day: fetch(api, spec, day) for day in WINDOW} for spec in SPECS}


def ms_of(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), UTC).timestamp() * 1000)


# ---- wire formats, limits ---------------------------------------------------------------------------------------


def test_binance_futures_data_rows_and_limits(api):
    url = binance_futures.TAKER_VOLUME_URL
    rows = json.loads(api.respond(url, {"symbol": "BTCUSDT", "period": "1h", "limit": "48"}, NOW)[1])
    assert len(rows) == 48 and set(rows[0]) == {"buySellRatio", "buyVol", "sellVol", "timestamp"}
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert rows[-1]["timestamp"] == NOW_MS // HOUR_MS * HOUR_MS  # the hour under way, as traded so far
    for r in rows:
        assert all(isinstance(r[k], str) for k in ("buySellRatio", "buyVol", "sellVol"))
        assert abs(float(r["buySellRatio"]) - float(r["buyVol"]) / float(r["sellVol"])) < 1e-4
    rows = json.loads(api.respond(binance_futures.OPEN_INTEREST_HIST_URL,
                              {"symbol": "BTCUSDT", "period": "5m", "limit": "500"}, NOW)[1])
    assert len(rows) == 500 and rows[-1]["timestamp"] <= NOW_MS
    assert set(rows[0]) == {"symbol", "sumOpenInterest", "sumOpenInterestValue", "timestamp"}
    old = {"symbol": "BTCUSDT", "period": "1d", "startTime": str(NOW_MS - 31 * DAY_MS)}
    for url in (binance_futures.TAKER_VOLUME_URL, binance_futures.OPEN_INTEREST_HIST_URL,
                binance_futures.TOP_TRADER_POSITION_RATIO_URL):
        assert api.respond(url, old, NOW) == (400, b'{"msg":"parameter \'startTime\' is invalid.","code":-1130}')
        assert json.loads(api.respond(url, {"symbol": "BTCUSDT", "period": "1d", "limit": "501"}, NOW)[1])[
            "code"] == -1130
        assert json.loads(api.respond(url, {"symbol": "BTCUSDT"}, NOW)[1])["code"] == -1102


def test_taker_volume_of_a_day_is_the_sum_of_its_hours(api):
    day = dt.date(2025, 11, 20)
    now = scheduled_fetch_time(day)
    params = {"symbol": "BTCUSDT", "startTime": str(ms_of(day)), "endTime": str(ms_of(day) + DAY_MS - 1)}
    daily = json.loads(api.respond(binance_futures.TAKER_VOLUME_URL, {**params, "period": "1d"}, now)[1])
    hourly = json.loads(api.respond(binance_futures.TAKER_VOLUME_URL, {**params, "period": "1h"}, now)[1])
    assert len(daily) == 1 and len(hourly) == 24
    for key in ("buyVol", "sellVol"):
        assert float(daily[0][key]) == pytest.approx(sum(float(r[key]) for r in hourly), abs=0.02)


def test_okx_rubik_rows_limits_and_history(api):
    url = okx.OPEN_INTEREST_HISTORY_URL
    body = json.loads(api.respond(url, {"instId": "BTC-USDT-SWAP", "period": "1H"}, NOW)[1])
    stamps = [int(r[0]) for r in body["data"]]
    assert body["code"] == "0" and len(stamps) == 100 and stamps == sorted(stamps, reverse=True)
    assert stamps[0] == NOW_MS // HOUR_MS * HOUR_MS and all(len(r) == 4 and all(isinstance(x, str) for x in r)
                                                             for r in body["data"])
    for ts, contracts, coins, usd in body["data"][:5]:
        assert float(coins) == pytest.approx(int(contracts) * 0.01)
    # daily rows are cut at 00:00 UTC+8, as OKX cuts its days
    body = json.loads(api.respond(url, {"instId": "BTC-USDT-SWAP", "period": "1D", "limit": "5"}, NOW)[1])
    assert {int(r[0]) % DAY_MS for r in body["data"]} == {16 * HOUR_MS}
    # the demo's depth: 30 days, nothing older
    old = {"instId": "BTC-USDT-SWAP", "period": "1H", "end": str(NOW_MS - 31 * DAY_MS)}
    assert json.loads(api.respond(url, old, NOW)[1]) == {"code": "0", "msg": "", "data": []}
    for params, code in (({"period": "1H"}, "50014"), ({"instId": "ETH-USDT-SWAP"}, "51001"),
                         ({"instId": "BTC-USDT-SWAP", "period": "7m"}, "51000"),
                         ({"instId": "BTC-USDT-SWAP", "limit": "101"}, "51000")):
        status, raw = api.respond(url, params, NOW)
        assert status == 200 and json.loads(raw)["code"] == code


def test_bodies_are_deterministic_and_parse_on_every_day(api):
    market = api.market
    fresh = DemoApi(market)
    for day in (dt.date(2020, 6, 1), dt.date(2025, 11, 21)):
        now = scheduled_fetch_time(day)
        for spec in SPECS:
            request = spec.request_for(day, now)
            first = api.respond(request.url, request.params, now)
            assert first[0] == 200 and fresh.respond(request.url, request.params, now) == first
            assert spec.parse(first[1], day, now).num_rows == 1


# ---- the story ----------------------------------------------------------------------------------------------------


def cascade_days(api) -> list[dt.date]:
    model = derivatives_model(api)
    return sorted(WINDOW, key=lambda d: -sum(model.liquidated_btc(d)))[:3]


def test_open_interest_falls_on_cascade_days_on_every_venue(api, window):
    for name in ("binance/open_interest_day", "bybit/open_interest_day", "okx/open_interest_day"):
        rows = window[name]
        change = {d: rows[d]["open_interest_end_btc"] / rows[d]["open_interest_start_btc"] - 1 for d in WINDOW}
        for day in cascade_days(api):
            assert -0.15 <= change[day] <= -0.04, (name, day, change[day])
        # each day's end is the next day's start: the same instant read by two partitions
        for d in WINDOW[:-1]:
            assert rows[d]["open_interest_end_btc"] == rows[d + dt.timedelta(days=1)]["open_interest_start_btc"]
    # venue sizes in BTC: Binance the largest, then Bybit, then OKX's BTC-USDT-SWAP
    mean = {n: np.mean([r["open_interest_end_btc"] for r in window[n].values()])
            for n in ("binance/open_interest_day", "bybit/open_interest_day", "okx/open_interest_day")}
    assert mean["binance/open_interest_day"] > mean["bybit/open_interest_day"] > mean["okx/open_interest_day"] > 20_000


def test_usd_open_interest_is_btc_at_the_index_price_of_the_instant(api, window):
    market = api.market
    for name in ("binance/open_interest_day", "okx/open_interest_day"):
        for day in WINDOW[-5:]:
            row = window[name][day]
            for when, column in (("start", "start_time"), ("end", "end_time")):
                price = market.index_at(row[column].replace(tzinfo=UTC))
                implied = row[f"open_interest_{when}_usd"] / row[f"open_interest_{when}_btc"]
                assert implied == pytest.approx(price, rel=1e-6), (name, day, when)


def test_cascade_days_are_heavy_taker_sell_days(api, window):
    taker = window["binance/taker_volume"]
    ratio = {d: taker[d]["buy_volume_btc"] / taker[d]["sell_volume_btc"] for d in WINDOW}
    cascades = cascade_days(api)
    calm = sorted(ratio.values())[len(ratio) // 2]
    for day in cascades:
        assert ratio[day] < 0.95 < calm, (day, ratio[day])
    # and they trade more than the median day
    volume = {d: taker[d]["buy_volume_btc"] + taker[d]["sell_volume_btc"] for d in WINDOW}
    assert all(volume[d] > np.median(list(volume.values())) for d in cascades)


def test_whales_by_size_and_by_account_disagree(api, window):
    positions = np.array([window["binance/top_trader_position_ratio"][d]["long_account"] for d in WINDOW])
    accounts = np.array([fetch(api, binance_futures.TOP_TRADER_LONG_SHORT_RATIO, d)["long_account"] for d in WINDOW])
    assert 0.3 <= positions.min() and positions.max() <= 0.78
    assert np.abs(positions - accounts).mean() > 0.02
    # the largest accounts add longs into falls: the position share rises after down days
    market = api.market
    three_day = np.array([np.log(market.close(d - dt.timedelta(days=1)) / market.close(d - dt.timedelta(days=4)))
                          for d in WINDOW])
    assert np.corrcoef(positions, three_day)[0, 1] < -0.3
