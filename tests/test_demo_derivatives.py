"""Demo derivatives endpoints: deterministic wire-format bodies that parse, page, never leak the future, and tell the
leverage-flush story of the default window."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.endpoints_derivatives import derivatives_model
from pipelines.demo.routes import ROUTES
from pipelines.demo.endpoints_okx import LIQUIDATION_RETENTION_MS
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.demo.options import OptionChainModel
from pipelines.ingest.errors import ParseError
from pipelines.ingest.extract import stitch_pages
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources import binance_futures, bybit, okx

UTC = dt.timezone.utc
PROJECT = Path(__file__).resolve().parents[1]
WINDOW = [dt.date(2025, 10, 1) + dt.timedelta(days=i) for i in range(52)]  # 2025-10-01 .. 2025-11-21
SPECS = (*binance_futures.DATASETS, *bybit.DATASETS, *okx.DATASETS)
FUNDING_URL = binance_futures.FUNDING_RATE_URL
TOP_URL = binance_futures.TOP_TRADER_RATIO_URL
GLOBAL_URL = binance_futures.GLOBAL_RATIO_URL
OI_URL = bybit.OPEN_INTEREST_URL
LIQ_URL = okx.LIQUIDATION_ORDERS_URL


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def respond(api: DemoApi, url: str, params: dict[str, str], now: dt.datetime) -> tuple[int, bytes]:
    path = urlsplit(url).path
    for pattern, handler in ROUTES:
        if match := pattern.fullmatch(path):
            return handler(match, dict(params), now, api)
    raise AssertionError(f"no route for {path}")


def walk(api: DemoApi, spec, request: FetchRequest, now: dt.datetime) -> list[bytes]:
    """Every page of a fetch, as the extract step walks them."""
    bodies = []
    while request is not None:
        status, body = respond(api, request.url, request.params, now)
        assert status == 200, body[:200]
        bodies.append(body)
        request = spec.next_page(request, body) if spec.next_page else None
        assert len(bodies) <= spec.max_pages
    return bodies


def polled_day(api: DemoApi, day: dt.date) -> list[dict]:
    return polled_days(api, [day])[day][0]


def polled_days(api: DemoApi, days: list[dt.date]) -> dict[dt.date, tuple[list[dict], int]]:
    """OKX liquidations of `days` as the pipeline loads them: the hourly schedule's polls, read back together
    (rows and pages read, per day)."""
    import tempfile

    from pipelines.demo.fetcher import DemoFetcher
    from pipelines.ingest.archive import LandingArchive
    from pipelines.ingest.body_source import FetchingBodySource
    from pipelines.ingest.polls import PollReader
    from pipelines.polling.cadence import DEFAULT_POLL_CRON
    from pipelines.polling.poller import simulate_schedule

    spec = okx.LIQUIDATION_ORDERS
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = FetchingBodySource(DemoFetcher(api), LandingArchive(Path(tmp)))
        simulate_schedule(source, spec, days, DEFAULT_POLL_CRON)
        reader = PollReader(source.archive, spec)
        for day in days:
            polled = reader.day(day)
            tables = [spec.parse(page.read_body(), day, fetch.fetched_at) for fetch in polled.fetches
                      for page in fetch.pages]
            out[day] = stitch_pages(spec, day, tables).to_pylist(), len(tables)
    return out


def fetch_day(api: DemoApi, spec, day: dt.date) -> tuple[list[dict], int]:
    """Rows of `day` as the pipeline would load them (nightly fetch time, pages parsed then stitched)."""
    now = scheduled_fetch_time(day)
    bodies = walk(api, spec, spec.build_request(day), now)
    table = stitch_pages(spec, day, [spec.parse(b, day, now) for b in bodies])
    assert table.schema == spec.raw_schema
    return table.to_pylist(), len(bodies)


@pytest.fixture(scope="module")
def window(api):
    """Parsed rows of every derivatives dataset over the window (open interest one day further, for changes)."""
    out = {spec.name: {} for spec in SPECS}
    pages = {}
    for day in WINDOW + [WINDOW[-1] + dt.timedelta(days=1)]:
        for spec in SPECS:
            if (day > WINDOW[-1] and spec is not bybit.OPEN_INTEREST_1D) or spec is okx.LIQUIDATION_ORDERS:
                continue
            out[spec.name][day], pages[(spec.name, day)] = fetch_day(api, spec, day)
    # OKX serves its last 24 h, capped at 1000 orders: a day is read from the hourly polls, as the pipeline does
    for day, (rows, count) in polled_days(api, WINDOW).items():
        out[okx.LIQUIDATION_ORDERS.name][day], pages[(okx.LIQUIDATION_ORDERS.name, day)] = rows, count
    out["pages"] = pages
    return out


def liquidations_by_day(window) -> dict[dt.date, dict]:
    result = {}
    for day in WINDOW:
        rows = window["okx/liquidation_orders"][day]
        longs = sum(r["notional_usd"] for r in rows if r["side"] == "sell")
        shorts = sum(r["notional_usd"] for r in rows if r["side"] == "buy")
        result[day] = {"usd": longs + shorts, "long_share": longs / max(longs + shorts, 1e-9), "events": len(rows)}
    return result


# ---- determinism, parsing, speed --------------------------------------------------------------------------


def requests_of(day: dt.date) -> list[FetchRequest]:
    return [spec.build_request(day) for spec in SPECS]


def test_same_request_gives_the_same_bytes_even_from_fresh_models(api):
    day = dt.date(2025, 11, 11)
    now = scheduled_fetch_time(day)
    market = MarketModel()
    fresh = DemoApi(market, MiningModel(), OptionChainModel(market))
    respond(fresh, LIQ_URL, {**okx.LIQUIDATION_ORDERS.build_request(day - dt.timedelta(days=9)).params},
            scheduled_fetch_time(day - dt.timedelta(days=9)))  # fill the fresh caches in another order first
    assert derivatives_model(fresh) is not derivatives_model(api)
    for request in requests_of(day):
        first = respond(api, request.url, request.params, now)
        assert first[0] == 200
        assert respond(api, request.url, request.params, now) == first
        assert respond(fresh, request.url, request.params, now) == first


def test_bodies_are_identical_in_another_process(api):
    day = dt.date(2025, 10, 10)
    script = (
        "import datetime as dt, hashlib\n"
        "from urllib.parse import urlsplit\n"
        "from pipelines.demo.api import DemoApi\n"
        "from pipelines.demo.routes import ROUTES\n"
        "from pipelines.demo.fetcher import scheduled_fetch_time\n"
        "from pipelines.sources import binance_futures, bybit, okx\n"
        "api, day = DemoApi(), dt.date(2025, 10, 10)\n"
        "for spec in reversed((*binance_futures.DATASETS, *bybit.DATASETS, *okx.DATASETS)):\n"
        "    r = spec.build_request(day)\n"
        "    h = next(h for p, h in ROUTES if p.fullmatch(urlsplit(r.url).path))\n"
        "    body = h(None, dict(r.params), scheduled_fetch_time(day), api)[1]\n"
        "    print(spec.name, hashlib.sha256(body).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "4321", "PATH": "/usr/bin:/bin"},
    ).stdout.split("\n")
    theirs = dict(line.split() for line in out if line)
    now = scheduled_fetch_time(day)
    ours = {spec.name: hashlib.sha256(respond(api, r.url, r.params, now)[1]).hexdigest()
            for spec, r in zip(SPECS, requests_of(day))}
    assert theirs == ours


@pytest.mark.parametrize("day", [dt.date(2020, 6, 1), dt.date(2025, 10, 1), dt.date(2025, 11, 21)])
def test_every_demo_body_parses_with_its_dataset_parser(api, day):
    for spec in SPECS:
        rows, _ = fetch_day(api, spec, day)
        assert rows and {r["partition_date"] for r in rows} == {day}
        start = dt.datetime.combine(day, dt.time())
        for row in rows:
            assert start <= row[spec.event_time_column] < start + dt.timedelta(days=1)
    funding, _ = fetch_day(api, binance_futures.FUNDING_RATE, day)
    assert [r["funding_time"].hour for r in funding] == [0, 8, 16]
    # Binance sends markPrice empty before 2023-10-31: null, never 0
    assert all((r["mark_price"] is None) == (day < dt.date(2023, 10, 31)) for r in funding)


# ---- never after now; history limits ----------------------------------------------------------------------

NOW = dt.datetime(2025, 11, 21, 13, 7, 21, 500000, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def test_nothing_after_now(api):
    rows = json.loads(respond(api, FUNDING_URL, {"symbol": "BTCUSDT", "limit": "7"}, NOW)[1])
    assert len(rows) == 7 and all(r["fundingTime"] <= NOW_MS for r in rows)
    assert rows[-1]["fundingTime"] // 3_600_000 == int(dt.datetime(2025, 11, 21, 8, tzinfo=UTC).timestamp()) // 3600
    assert [r["fundingTime"] for r in rows] == sorted(r["fundingTime"] for r in rows)  # ascending
    for url in (TOP_URL, GLOBAL_URL):
        rows = json.loads(respond(api, url, {"symbol": "BTCUSDT", "period": "1h", "limit": "500"}, NOW)[1])
        stamps = [r["timestamp"] for r in rows]
        assert len(rows) == 500 and stamps == sorted(stamps) and stamps[-1] == NOW_MS // 3_600_000 * 3_600_000
        assert all(isinstance(s, int) for s in stamps)
    body = json.loads(respond(api, OI_URL, {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "5min",
                                            "limit": "200"}, NOW)[1])
    stamps = [int(r["timestamp"]) for r in body["result"]["list"]]
    assert stamps == sorted(stamps, reverse=True) and stamps[0] == NOW_MS // 300_000 * 300_000  # newest first
    assert body["time"] == NOW_MS and body["result"]["nextPageCursor"]
    body = json.loads(respond(api, LIQ_URL, {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled"}, NOW)[1])
    stamps = [int(d["ts"]) for d in body["data"][0]["details"]]
    assert len(stamps) == 100 and stamps == sorted(stamps, reverse=True) and stamps[0] <= NOW_MS


def test_history_limits_of_the_now_only_feeds(api):
    # OKX keeps about the last day: older windows come back empty. Binance's ratios the last 30 days: an older
    # startTime is refused as the live API refuses it, and the parser says why.
    old = {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled",
           "after": str(NOW_MS - LIQUIDATION_RETENTION_MS)}
    assert json.loads(respond(api, LIQ_URL, old, NOW)[1]) == {"code": "0", "msg": "", "data": []}
    day = dt.date(2025, 10, 1)
    request = binance_futures.TOP_TRADER_LONG_SHORT_RATIO.request_for(day, NOW)
    status, body = respond(api, request.url, request.params, NOW)
    assert (status, body) == (400, b'{"msg":"parameter \'startTime\' is invalid.","code":-1130}')
    with pytest.raises(ParseError, match="startTime' is invalid.; Binance serves the last 30 days only"):
        binance_futures.TOP_TRADER_LONG_SHORT_RATIO.parse(body, day, NOW)
    # like OKX, a nightly fetch at 00:30 no longer sees its day's first half hour (24 h served): the hourly polls
    # keep it (tests/test_polling.py)
    rows, _ = fetch_day(api, okx.LIQUIDATION_ORDERS, dt.date(2025, 11, 20))
    assert min(r["ts"] for r in rows) > dt.datetime(2025, 11, 20, 0, 30)
    assert min(r["ts"] for r in polled_day(api, dt.date(2025, 11, 20))) < dt.datetime(2025, 11, 20, 0, 30)


@pytest.mark.parametrize(
    ("url", "params", "status", "error"),
    [
        (TOP_URL, {"symbol": "BTCUSDT"}, 400, {"code": -1102}),
        (GLOBAL_URL, {"symbol": "BTCUSDT", "period": "7m"}, 400, {"code": -1120}),
        (FUNDING_URL, {"symbol": "ETHUSDT"}, 400, {"code": -1121}),
        (FUNDING_URL, {"limit": "1001"}, 400, {"code": -1130}),
        (FUNDING_URL, {"startTime": "9", "endTime": "1"}, 400, {"code": -1023}),
        (OI_URL, {"category": "spot", "symbol": "BTCUSDT", "intervalTime": "1d"}, 200, {"retCode": 10001}),
        (OI_URL, {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1w"}, 200, {"retCode": 10001}),
        (OI_URL, {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1d", "cursor": "%%"}, 200,
         {"retCode": 10001}),
        (LIQ_URL, {"instType": "SWAP", "state": "filled"}, 200, {"code": "50015"}),
        (LIQ_URL, {"instFamily": "BTC-USDT"}, 200, {"code": "50014"}),
        (LIQ_URL, {"instType": "SWAP", "instFamily": "BTC-USDT", "limit": "101"}, 200, {"code": "51000"}),
    ],
)
def test_bad_requests_answer_in_the_apis_error_envelopes(api, url, params, status, error):
    got_status, body = respond(api, url, params, NOW)
    payload = json.loads(body)
    assert got_status == status and {k: payload[k] for k in error} == error
    spec = {FUNDING_URL: binance_futures.FUNDING_RATE, TOP_URL: binance_futures.TOP_TRADER_LONG_SHORT_RATIO,
            GLOBAL_URL: binance_futures.GLOBAL_LONG_SHORT_RATIO, OI_URL: bybit.OPEN_INTEREST_1D,
            LIQ_URL: okx.LIQUIDATION_ORDERS}[url]
    with pytest.raises(ParseError, match="error envelope"):
        spec.parse(body, dt.date(2025, 11, 20), NOW)


# ---- paging: multi-page histories stitched without gaps or duplicates -------------------------------------


def test_okx_walk_collects_every_event_served_once(api):
    # 2025-10-10 has 1422 events: at 23:59 the feed serves its newest 1000 (the cap), which the walk gets, each once
    day = dt.date(2025, 10, 10)
    spec = okx.LIQUIDATION_ORDERS
    now = dt.datetime(2025, 10, 10, 23, 59, tzinfo=UTC)
    bodies = walk(api, spec, spec.build_request(day), now)
    served = [(d["ts"], d["side"], d["sz"], d["bkPx"]) for b in bodies for e in json.loads(b)["data"]
              for d in e["details"]]
    assert len(bodies) > 10 and all(len(json.loads(b)["data"][0]["details"]) == 100 for b in bodies[:-1])
    events = derivatives_model(api).liquidation_events(day)
    now_ms = int(now.timestamp() * 1000)
    rows = stitch_pages(spec, day, [spec.parse(b, day, now) for b in bodies]).to_pylist()
    # the union is the newest 1000 simulated events, each once; repeats (the re-asked oldest ms) dropped
    newest = events.ts[events.ts <= now_ms][-1000:]
    assert len(events.ts) == 1422 and len(rows) == 1000 == len({r["ts"] for r in rows})
    assert sorted(int(r["ts"].replace(tzinfo=UTC).timestamp() * 1000) for r in rows) == newest.tolist()
    assert len(served) - len(rows) == len(bodies) - 1  # each later page repeats the oldest ms of the one before
    # past the cap the feed runs dry (a short last page), although the day goes back to its midnight
    assert len(json.loads(bodies[-1])["data"][0]["details"]) < 100 and rows[0]["ts"] > dt.datetime(2025, 10, 10, 1)


def test_bybit_cursor_pages_cover_a_wide_window_without_gaps_or_duplicates(api):
    spec = bybit.OPEN_INTEREST_1D
    first, last = WINDOW[0], WINDOW[-1]
    base = spec.build_request(last)
    start_ms = int(dt.datetime.combine(first, dt.time(), UTC).timestamp()) * 1000
    request = FetchRequest("bybit", "open_interest_1d", last, base.url,
                           {**base.params, "startTime": str(start_ms), "limit": "7"})
    now = scheduled_fetch_time(last)
    bodies = walk(api, spec, request, now)
    assert len(bodies) == -(-len(WINDOW) // 7)
    stamps = [int(r["timestamp"]) for b in bodies for r in json.loads(b)["result"]["list"]]
    expected = [int(dt.datetime.combine(d, dt.time(), UTC).timestamp() * 1000) for d in reversed(WINDOW)]
    assert stamps == expected  # newest first, every day once
    # each day's row parses from the page that holds it, and equals the single-day fetch
    for day in (first, dt.date(2025, 10, 20), last):
        page = next(b for b in bodies if str(int(dt.datetime.combine(day, dt.time(), UTC).timestamp() * 1000)) in
                    [r["timestamp"] for r in json.loads(b)["result"]["list"]])
        assert spec.parse(page, day, now).to_pylist() == fetch_day(api, spec, day)[0]


# ---- the story over the default window --------------------------------------------------------------------


def test_liquidation_cascades_fall_on_the_sharpest_down_days(api, window):
    liq = liquidations_by_day(window)
    market = api.market
    returns = {d: market.close(d) / market.close(d - dt.timedelta(days=1)) - 1 for d in WINDOW}
    sharpest = sorted(WINDOW, key=returns.get)[:5]
    top = sorted(WINDOW, key=lambda d: -liq[d]["usd"])[:3]
    for day in top:
        assert day in sharpest, (day, returns[day])
        assert liq[day]["usd"] > 100e6 and liq[day]["long_share"] > 0.70
        assert 500 <= liq[day]["events"] <= 3000 and window["pages"][("okx/liquidation_orders", day)] > 5
    # calm days: a few million
    calm = [liq[d]["usd"] for d in WINDOW if abs(returns[d]) < 0.01]
    assert len(calm) >= 10 and 0.5e6 < np.median(calm) < 15e6
    # over the window, liquidations are mostly longs
    total = sum(v["usd"] for v in liq.values())
    assert sum(v["usd"] * v["long_share"] for v in liq.values()) / total > 0.7


def test_open_interest_falls_on_cascade_days_and_builds_when_calm(window):
    liq = liquidations_by_day(window)
    oi = {d: rows[0]["open_interest_btc"] for d, rows in window["bybit/open_interest_1d"].items()}
    # the row of D is the open interest at D 00:00, so D's change is the next row minus D's
    change = {d: oi[d + dt.timedelta(days=1)] / oi[d] - 1 for d in WINDOW}
    for day in sorted(WINDOW, key=lambda d: -liq[d]["usd"])[:3]:
        assert -0.15 <= change[day] <= -0.05, (day, change[day])
    quiet = [change[d] for d in WINDOW if liq[d]["usd"] < 10e6]
    assert len(quiet) >= 15 and np.mean(quiet) > 0.005
    assert 30_000 < min(oi.values()) and max(oi.values()) < 80_000  # Bybit BTCUSDT-sized, in BTC


def test_funding_turns_lower_after_the_falls(window):
    rates = {d: [r["funding_rate"] for r in rows] for d, rows in window["binance/funding_rate"].items()}
    early = [x for d in WINDOW if d <= dt.date(2025, 10, 9) for x in rates[d]]
    november = [x for d in WINDOW if d.month == 11 for x in rates[d]]
    assert 0.00005 < np.mean(early) <= 0.0001  # ~0.01% per 8 h in the uptrend
    assert np.mean(november) < np.mean(early) - 0.00005
    assert min(x for r in rates.values() for x in r) < 0  # negative after sharp falls
    assert all(len(r) == 3 for r in rates.values())


def test_retail_gets_more_long_after_falls_than_top_traders(api, window):
    top = np.array([window["binance/top_trader_long_short_ratio"][d][0]["long_account"] for d in WINDOW])
    retail = np.array([window["binance/global_long_short_ratio"][d][0]["long_account"] for d in WINDOW])
    early, late = slice(0, 9), slice(31, None)
    assert retail[late].mean() > retail[early].mean() + 0.08
    assert top[late].mean() < top[early].mean() - 0.08
    # day to day, the retail share rises after down days
    market = api.market
    prev_returns = np.array([market.daily_return(d - dt.timedelta(days=1)) for d in WINDOW[1:]])
    assert np.corrcoef(np.diff(retail), prev_returns)[0, 1] < -0.3
