"""Demo Deribit instruments / index and the Polymarket market: wire formats, determinism, no future, the story."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from urllib.parse import urlsplit

import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.endpoints_polymarket import prediction_model
from pipelines.demo.routes import ROUTES
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.demo.options import OptionChainModel
from pipelines.demo.prediction import DEMO_MARKET, _ndtr, touch_probability
from pipelines.sources import deribit, deribit_reference, polymarket

UTC = dt.timezone.utc
LATE_UTC = dt.datetime(2030, 1, 1, tzinfo=UTC)
WINDOW = [dt.date(2025, 10, 1) + dt.timedelta(days=i) for i in range(52)]  # 2025-10-01 .. 2025-11-21
SPECS = (*deribit_reference.DATASETS, *polymarket.DATASETS)
INSTRUMENTS = "/api/v2/public/get_instruments"
INDEX = "/api/v2/public/get_index_price"
SLUG = {"slug": DEMO_MARKET.slug}


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def call(api: DemoApi, path: str, params: dict, now: dt.datetime) -> tuple[int, bytes]:
    """Answer like DemoApi.respond would once the integrator wires ROUTES in (path-only regexes)."""
    for pattern, handler in ROUTES:
        if match := pattern.fullmatch(path):
            return handler(match, dict(params), now.astimezone(UTC).replace(tzinfo=None), api)
    raise AssertionError(f"no route for {path}")


def request_of(spec, day: dt.date):
    """The day's request of a dataset: the Polymarket ones ask for the demo's headline market."""
    if spec is polymarket.MARKETS:  # asked whatever the configuration's window (the demo answers any day)
        return dataclasses.replace(polymarket.MARKETS.build_request(dt.date(2025, 11, 21)), day=day,
                                   url=polymarket.GAMMA_MARKETS_URL, params=SLUG)
    if spec is polymarket.PRICES_HISTORY:
        return polymarket.prices_history_request(DEMO_MARKET.yes_token_id, day)
    return spec.build_request(day)


def fetch(api: DemoApi, spec, day: dt.date) -> tuple[bytes, dt.datetime]:
    request = request_of(spec, day)
    now = scheduled_fetch_time(day)
    status, body = call(api, urlsplit(request.url).path, request.params, now)
    assert status == 200, body[:300]
    return body, now


def parsed(api: DemoApi, spec, day: dt.date) -> list[dict]:
    body, now = fetch(api, spec, day)
    if spec.parse_takes_params:
        return spec.parse(body, day, now, request_of(spec, day).params).to_pylist()
    return spec.parse(body, day, now).to_pylist()


@pytest.fixture(scope="module")
def window(api):
    """Parsed rows of every dataset over the demo window, and the Binance closes of the same days."""
    m = api.market
    return {
        "index": [parsed(api, deribit_reference.INDEX_PRICE, d)[0] for d in WINDOW],
        "market": [parsed(api, polymarket.MARKETS, d)[0] for d in WINDOW],
        "history": [parsed(api, polymarket.PRICES_HISTORY, d) for d in WINDOW],
        "binance_close": [m.candle("binance", int(dt.datetime.combine(d, dt.time(), UTC).timestamp()), 86_400,
                                   10**10).close for d in WINDOW],
    }


# ---- routes, determinism, parsing ------------------------------------------------------------------------------


def test_every_request_builder_url_is_routed():
    for spec in SPECS:
        path = urlsplit(request_of(spec, WINDOW[0]).url).path
        assert sum(bool(p.fullmatch(path)) for p, _ in ROUTES) == 1, path


def test_same_request_gives_the_same_bytes_even_from_fresh_models(api):
    day = dt.date(2025, 11, 21)
    market = MarketModel()
    fresh = DemoApi(market=market, mining=MiningModel(), options=OptionChainModel(market))
    for spec in SPECS:
        first, _ = fetch(api, spec, day)
        assert fetch(api, spec, day)[0] == first
        assert fetch(fresh, spec, day)[0] == first, spec.name


@pytest.mark.parametrize("day", [dt.date(2020, 6, 1), dt.date(2025, 10, 1), dt.date(2025, 11, 21)])
def test_demo_bodies_parse_with_the_parsers(api, day):
    for spec in deribit_reference.DATASETS:
        rows = parsed(api, spec, day)
        assert rows and all(r["partition_date"] == day for r in rows)
    if day < dt.date(2025, 9, 2):  # before the tracked market was listed: Gamma and the CLOB have nothing
        for spec in polymarket.DATASETS:  # no rows, which is no error: nothing was listed yet
            assert parsed(api, spec, day) == []
        return
    (market,) = parsed(api, polymarket.MARKETS, day)
    assert market["slug"] == DEMO_MARKET.slug and market["yes_token_id"] == DEMO_MARKET.yes_token_id
    assert market["volume_usd"] > 0 and market["liquidity_usd"] > 0 and not market["closed"]
    points = parsed(api, polymarket.PRICES_HISTORY, day)
    assert [p["point_time"] for p in points] == [dt.datetime.combine(day, dt.time(h)) for h in range(24)]


# ---- nothing after now -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("now", [dt.datetime(2025, 11, 21, 13, 37, 12, tzinfo=UTC),
                                 dt.datetime(2026, 1, 18, 11, 5, tzinfo=UTC)])
def test_nothing_after_now(api, now):
    now_s = int(now.timestamp())
    status, body = call(api, "/prices-history", {"market": DEMO_MARKET.yes_token_id, "startTs": str(now_s - 86_400),
                                                 "endTs": str(now_s + 86_400), "fidelity": "1"}, now)
    history = json.loads(body)["history"]
    assert status == 200 and history[-1]["t"] == now_s // 60 * 60
    # the past is never revised: a later request returns the same points for the same minutes
    later = json.loads(call(api, "/prices-history", {"market": DEMO_MARKET.yes_token_id,
                                                     "startTs": str(now_s - 86_400), "endTs": str(now_s),
                                                     "fidelity": "1"}, now + dt.timedelta(hours=5))[1])["history"]
    assert later == history
    (market,) = json.loads(call(api, "/markets", SLUG, now)[1])
    assert dt.datetime.fromisoformat(market["updatedAt"]) <= now
    assert float(json.loads(market["outcomePrices"])[0]) == history[-1]["p"]
    index = json.loads(call(api, INDEX, {"index_name": "btc_usd"}, now)[1])
    assert index["usOut"] == now_s * 1_000_000
    assert index["result"]["index_price"] == round(api.market.index_at(now.replace(second=0)), 2)
    for row in json.loads(call(api, INSTRUMENTS, {"currency": "BTC", "kind": "option"}, now)[1])["result"]:
        assert row["creation_timestamp"] <= now_s * 1000 < row["expiration_timestamp"]


def test_the_market_life_cycle_listing_resolution_and_the_resolved_market_quirk(api):
    model = prediction_model(api)
    before = dt.datetime(2025, 9, 2, 16, 0, tzinfo=UTC)
    assert json.loads(call(api, "/markets", SLUG, before)[1]) == []
    touched = model.touch_time()
    # the demo path reaches $100k on 2026-01-18: the Binance one-minute high at that minute is the first >= 100k
    assert touched is not None and dt.datetime.fromtimestamp(touched, UTC).date() == dt.date(2026, 1, 18)
    assert api.market.candle("binance", touched, 60, touched + 60).high >= 100_000
    day_open = touched // 86_400 * 86_400
    assert api.market.candle("binance", day_open, 86_400, touched).high < 100_000  # the day until that minute
    for k in range(1, 17):  # and every earlier whole day of January (2nd .. 17th)
        assert api.market.candle("binance", day_open - k * 86_400, 86_400, touched).high < 100_000
    after = dt.datetime.fromtimestamp(model.resolved_at() + 60, UTC)
    assert json.loads(call(api, "/markets", SLUG, after)[1]) == []  # Gamma lists a closed market only if asked
    (market,) = json.loads(call(api, "/markets", dict(SLUG, closed="true"), after)[1])
    assert market["closed"] and market["outcomePrices"] == '["1", "0"]' and "liquidity" not in market
    assert market["closedTime"].endswith("+00") and not market["acceptingOrders"]
    row = polymarket.MARKETS.parse(json.dumps([market]).encode(), after.date(), after,
                                   dict(SLUG, closed="true")).to_pylist()[0]
    assert row["closed"] and row["yes_price"] == 1.0 and row["liquidity_usd"] is None
    assert row["resolved_outcome"] == "yes" and row["resolved_at"] == dt.datetime.fromtimestamp(
        model.resolved_at(), UTC).replace(tzinfo=None)
    params = {"market": DEMO_MARKET.yes_token_id, "fidelity": "60"}
    assert json.loads(call(api, "/prices-history", dict(params, interval="max"), after)[1]) == {"history": []}
    resolved = json.loads(call(api, "/prices-history", dict(params, interval="max", fidelity="720"), after)[1])
    assert resolved["history"][-1]["p"] == 0.9995 and resolved["history"][-1]["t"] < model.resolved_at()
    day = dt.datetime.fromtimestamp(touched, UTC).date()
    window = dict(params, startTs=str(touched // 86_400 * 86_400), endTs=str(touched // 86_400 * 86_400 + 86_400))
    points = json.loads(call(api, "/prices-history", window, after)[1])["history"]
    assert points[-1]["t"] < model.resolved_at() and points[-1]["p"] == 0.9995
    no = json.loads(call(api, "/prices-history", dict(window, market=DEMO_MARKET.no_token_id), after)[1])["history"]
    assert [round(a["p"] + b["p"], 4) for a, b in zip(points, no)] == [1.0] * len(points)
    next_night = scheduled_fetch_time(day)
    assert polymarket.PRICES_HISTORY.parse(json.dumps({"history": points}).encode(), day, next_night,
                                           {"market": DEMO_MARKET.yes_token_id}).num_rows == len(points)


@pytest.mark.parametrize(
    ("path", "params", "status", "expected"),
    [
        (INSTRUMENTS, {}, 400, {"code": -32602, "data": {"reason": "required", "param": "currency"}}),
        (INSTRUMENTS, {"currency": "BTC", "kind": "opt"}, 400, {"code": -32602}),
        (INSTRUMENTS, {"currency": "BTC", "expired": "maybe"}, 400, {"data": {"reason": "must be boolean",
                                                                                "param": "expired"}}),
        (INDEX, {}, 400, {"code": -32602, "data": {"reason": "required", "param": "index_name"}}),
        (INDEX, {"index_name": "sol_usd"}, 400, {"code": -32602}),
        ("/prices-history", {}, 400, {"error": "market is required"}),
        ("/prices-history", {"market": "1", "interval": "1d", "startTs": "1"}, 400, None),
        ("/prices-history", {"market": "1", "interval": "2d"}, 400, None),
        ("/prices-history", {"market": "1", "startTs": "9", "endTs": "1"}, 400, None),
        ("/prices-history", {"market": DEMO_MARKET.yes_token_id, "interval": "max", "fidelity": "1"}, 400, None),
        ("/markets", {"closed": "maybe"}, 422, None),
    ],
)
def test_bad_params_answer_in_the_apis_error_shapes(api, path, params, status, expected):
    got_status, body = call(api, path, params, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    doc = json.loads(body)
    assert got_status == status
    if path.startswith("/api/v2/"):
        assert doc["jsonrpc"] == "2.0" and "result" not in doc
        for key, value in (expected or {}).items():
            assert doc["error"][key] == value
    else:
        assert "error" in doc and (expected is None or doc == expected)


def test_gamma_filters_and_clob_windows_behave_like_the_api(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    one = json.loads(call(api, "/markets", SLUG, now)[1])
    assert len(one) == 1
    assert json.loads(call(api, "/markets", {"id": DEMO_MARKET.market_id}, now)[1]) == one
    assert json.loads(call(api, "/markets", {"clob_token_ids": DEMO_MARKET.no_token_id}, now)[1]) == one
    assert json.loads(call(api, "/markets", {"slug": "will-bitcoin-reach-150000-in-january-2026"}, now)[1]) == []
    closed = json.loads(call(api, "/markets", {"closed": "true", "limit": "50"}, now)[1])
    assert closed and all(m["closed"] for m in closed) and DEMO_MARKET.slug not in {m["slug"] for m in closed}
    assert json.loads(call(api, "/markets", dict(SLUG, offset="1"), now)[1]) == []
    week = json.loads(call(api, "/prices-history", {"market": DEMO_MARKET.yes_token_id, "interval": "1w",
                                                    "fidelity": "60"}, now)[1])["history"]
    assert len(week) == 7 * 24 and all(b["t"] - a["t"] == 3600 for a, b in zip(week, week[1:]))
    assert json.loads(call(api, "/prices-history", {"market": "123", "interval": "1d"}, now)[1]) == {"history": []}
    # the Gamma object carries every documented field, with the documented types
    (m,) = one
    for key in ("id", "question", "conditionId", "slug", "endDate", "startDate", "outcomes", "outcomePrices",
                "clobTokenIds", "volume", "liquidity", "createdAt", "updatedAt", "questionID"):
        assert isinstance(m[key], str) and m[key], key
    for key in ("volumeNum", "liquidityNum", "volume24hr", "volume1wk", "lastTradePrice", "bestBid", "bestAsk",
                "spread", "oneDayPriceChange"):
        assert isinstance(m[key], float), key
    assert m["active"] is True and m["closed"] is False and isinstance(m["events"][0]["volume"], float)
    assert float(m["volume"]) == m["volumeNum"] and m["bestAsk"] == round(m["bestBid"] + 0.01, 2)
    assert float(json.loads(m["outcomePrices"])[0]) == round((m["bestBid"] + m["bestAsk"]) / 2, 4)
    assert json.loads(m["clobTokenIds"]) == [DEMO_MARKET.yes_token_id, DEMO_MARKET.no_token_id]


# ---- the instruments are the chain's --------------------------------------------------------------------------


def test_instruments_list_exactly_the_book_summary_chain(api):
    for day in WINDOW[::3] + [WINDOW[-1], dt.date(2020, 6, 1)]:
        now = scheduled_fetch_time(day)
        rows = parsed(api, deribit_reference.OPTION_INSTRUMENTS, day)
        status, book = api.respond(deribit.BOOK_SUMMARY_URL, {"currency": "BTC", "kind": "option"}, now)
        chain = deribit.OPTION_BOOK_SUMMARY.parse(book, day, now).to_pylist()
        assert [r["instrument_name"] for r in rows] == [r["instrument_name"] for r in chain], day
        now_naive = now.replace(tzinfo=None)
        for r in rows:
            assert r["expiration_time"] > now_naive >= r["creation_time"] and r["expiration_time"].hour == 8
            assert r["is_active"] and r["price_index"] == "btc_usd" and r["contract_size"] == 1.0
        assert {r["settlement_period"] for r in rows} == {"day", "week", "month"}
        ids = [r["instrument_id"] for r in rows]
        assert len(set(ids)) == len(ids)
    # the same instrument keeps its id and listing time from one day to the next
    a = {r["instrument_name"]: r for r in parsed(api, deribit_reference.OPTION_INSTRUMENTS, WINDOW[-2])}
    b = {r["instrument_name"]: r for r in parsed(api, deribit_reference.OPTION_INSTRUMENTS, WINDOW[-1])}
    common = set(a) & set(b)
    assert len(common) > 0.5 * len(b)
    assert all(a[n]["instrument_id"] == b[n]["instrument_id"] and a[n]["creation_time"] == b[n]["creation_time"]
               for n in common)


def test_recently_expired_instruments_are_the_ones_that_expired_since_yesterday(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    status, body = call(api, INSTRUMENTS, {"currency": "BTC", "kind": "option", "expired": "true"}, now)
    rows = json.loads(body)["result"]
    assert status == 200 and rows and all(not r["is_active"] for r in rows)
    assert {r["instrument_name"].split("-")[1] for r in rows} == {"21NOV25"}  # a Friday: daily + weekly expiry


# ---- the barrier model ----------------------------------------------------------------------------------------


def test_normal_cdf_and_the_reflection_principle():
    x = np.linspace(-8, 8, 321)
    exact = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.max(np.abs(_ndtr(x) - exact)) < 2e-7
    # zero log-drift (mu = vol^2 / 2): P(max >= b) = 2 N(-d / (vol sqrt tau))
    vol, tau, d = 0.5, 0.25, 0.1
    got = touch_probability(np.array([0.0]), d, vol * vol / 2, np.array([vol]), np.array([tau]))[0]
    assert got == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(d / (vol * math.sqrt(tau)) / math.sqrt(2)))), abs=1e-6)
    # at or above the barrier: certain; no time left below it: impossible
    assert touch_probability(np.array([0.2, -0.1]), 0.1, -0.7, np.array([0.5]), np.array([0.0])).tolist() == [1.0, 0.0]
    # a simulated check of the drifted formula (seeded), within Monte-Carlo and discretisation error
    g = np.random.Generator(np.random.PCG64(7))
    steps, paths, mu = 400, 20_000, -0.7
    dt_y = tau / steps
    logs = np.cumsum((mu - vol * vol / 2) * dt_y + vol * math.sqrt(dt_y) * g.standard_normal((paths, steps)), axis=1)
    simulated = float((logs.max(axis=1) >= d).mean())
    formula = touch_probability(np.array([0.0]), d, mu, np.array([vol]), np.array([tau]))[0]
    assert simulated == pytest.approx(formula, abs=0.03) and simulated < formula  # discrete paths miss some touches


# ---- the story over the default window ------------------------------------------------------------------------


def test_index_tracks_the_binance_close(api, window):
    # The snapshot is taken at the nightly run (D + 1, 00:30): 30 minutes of trading after the day's close.
    gaps, same_moment = [], []
    for row, close in zip(window["index"], window["binance_close"]):
        gaps.append(abs(row["index_price"] / close - 1))
        snap_s = int(row["snapshot_time"].replace(tzinfo=UTC).timestamp())
        binance_now = api.market.candle("binance", snap_s, 60, snap_s + 60).open
        same_moment.append(abs(row["index_price"] / binance_now - 1))
        assert row["index_price"] == row["estimated_delivery_price"]
        assert row["snapshot_time"] == dt.datetime.combine(row["partition_date"] + dt.timedelta(days=1),
                                                           dt.time(0, 30))
    assert max(same_moment) < 0.002  # the same moment: the venue basis only
    # vs the day's close (measured: median 0.20%, 77% of days within 0.5%, max 0.92%): the 30 minutes after it
    assert max(gaps) < 0.015 and np.median(gaps) < 0.004


def test_prediction_story(window):
    snapshot = np.array([r["yes_price"] for r in window["market"]])  # Gamma, archived each night
    daily = np.array([h[-1]["yes_price"] for h in window["history"]])  # last CLOB point <= the day's end
    for series in (snapshot, daily):
        assert 0.55 <= series[0] <= 0.70  # 2025-10-01
        assert 0.20 <= series[-1] <= 0.30  # 2025-11-21
        assert series[-1] == series.min() or series[-1] - series.min() < 0.03
    assert np.all(np.abs(snapshot - daily) < 0.1)  # the two views of one market agree
    # it falls with the price: daily moves follow BTC's daily return, and the trend is down
    closes = np.array(window["binance_close"])
    moves = np.diff(daily)
    assert np.corrcoef(moves, np.diff(np.log(closes)))[0, 1] > 0.7
    assert np.polyfit(np.arange(len(daily)), daily, 1)[0] < -0.005  # measured: -0.65 points a day
    # activity: cumulative volume only grows, and more is traded on the days BTC moves more
    volume = np.array([r["volume_usd"] for r in window["market"]])
    assert np.all(np.diff(volume) > 0)
    assert np.corrcoef(np.diff(volume), np.abs(np.diff(np.log(closes))) )[0, 1] > 0.3


# ---- the monthly ladders: events listed month by month, markets that resolve -----------------------------------


def test_events_list_a_ladder_each_month_and_close_when_every_rung_has(api):
    from pipelines.demo.prediction import event_slug

    before = dt.datetime(2025, 11, 25, 15, 59, tzinfo=UTC)
    december = {"slug": event_slug(2025, 12)}
    assert json.loads(call(api, "/events", december, before)[1]) == []  # lists on the 25th, 16:00
    (event,) = json.loads(call(api, "/events", december, before + dt.timedelta(minutes=2))[1])
    rungs = event["markets"]
    assert event["slug"] == december["slug"] and not event["closed"] and len(rungs) >= 4
    assert all("events" not in m for m in rungs)  # nested markets do not nest their event again
    titles = [m["groupItemTitle"] for m in rungs]
    assert any(t.startswith("↑ ") for t in titles) and any(t.startswith("↓ ") for t in titles)
    rows = polymarket.MARKETS.parse(json.dumps([event]).encode(), dt.date(2025, 11, 25), LATE_UTC,
                                    december).to_pylist()
    assert {r["direction"] for r in rows} == {"reach", "dip"} and all(r["period_start"] == dt.date(2025, 12, 1)
                                                                     for r in rows)
    # a dip rung resolves YES on the minute a Binance 1m low reaches it; a reach rung on a high; the rest NO at the
    # month's end; the event closes once every rung has, and is then listed only with closed=true
    after = dt.datetime(2026, 1, 2, tzinfo=UTC)
    assert json.loads(call(api, "/events", december, after)[1]) == []
    (done,) = json.loads(call(api, "/events", dict(december, closed="true"), after)[1])
    outcomes = {m["groupItemTitle"]: json.loads(m["outcomePrices"]) for m in done["markets"]}
    assert done["closed"] and all(p in (["1", "0"], ["0", "1"]) for p in outcomes.values())
    month_lo = min(api.market.candle("binance", int(dt.datetime(2025, 12, d, tzinfo=UTC).timestamp()), 86_400,
                                     10**10).low for d in range(1, 32))
    for title, prices in outcomes.items():
        if title.startswith("↓ "):
            barrier = float(title[2:].replace(",", ""))
            assert (prices == ["1", "0"]) == (month_lo <= barrier) or abs(month_lo - barrier) / barrier < 0.01


def test_the_clob_refuses_a_window_longer_than_its_cap(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    end = int(now.timestamp()) - 1800
    cap = polymarket.PRICE_HISTORY_MAX_WINDOW_S
    at_cap = {"market": DEMO_MARKET.yes_token_id, "startTs": str(end - cap), "endTs": str(end), "fidelity": "60"}
    assert call(api, "/prices-history", at_cap, now)[0] == 200
    over = dict(at_cap, startTs=str(end - cap - 1))
    status, body = call(api, "/prices-history", over, now)
    assert status == 400 and "interval is too long" in json.loads(body)["error"]
    # what the pipeline asks (one UTC day) is far inside it
    request = polymarket.prices_history_request(DEMO_MARKET.yes_token_id, dt.date(2025, 11, 21))
    assert int(request.params["endTs"]) - int(request.params["startTs"]) <= cap
