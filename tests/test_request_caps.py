"""Every request within the API's documented caps, counted the way the API counts (inclusive bounds), and the demo
APIs enforcing the same caps with the real APIs' errors, so that a request builder's mistake fails here.

The counters below are written from the APIs' documentation, on purpose apart from the builders' own arithmetic:
a builder counting wrongly (Coinbase's 300 days asked as 301 buckets) disagrees with them.
(Polymarket's and OKX's requests are covered by their own tests.)
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.ingest.errors import ParseError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources import binance, binance_futures, blockchain_com, bybit, coinbase, mempool, mempool_blocks
from pipelines.sources.registry import get_dataset
from pipelines.sources.spec import DatasetSpec

UTC = dt.UTC
DAY_MS = 86_400_000
LAST = dt.date(2025, 11, 21)  # the demo window's last day
AT = scheduled_fetch_time(LAST)  # the nightly fetch after it
AT_MS = int(AT.timestamp() * 1000)
KLINES = "https://data-api.binance.vision/api/v3/klines"
CANDLES = coinbase.CANDLES_URL
COINBASE_TOO_MANY = (b'{"message":"granularity too small for the requested time range. Count of aggregations '
                     b'requested exceeds 300"}')
BINANCE_BAD_LIMIT = b'{"code":-1130,"msg":"Data sent for parameter \'limit\' is not valid."}'
RATIO_OLD_START = b'{"msg":"parameter \'startTime\' is invalid.","code":-1130}'

MINE = ("binance/spot_klines_1d", "coinbase/spot_candles_1d", "mempool/hashrate", "blockchain_com/hash_rate",
        "blockchain_com/miners_revenue",
        "binance/funding_rate", "binance/top_trader_long_short_ratio", "binance/global_long_short_ratio",
        "bybit/open_interest_1d", "deribit/btc_dvol", "deribit/eth_dvol", "binance/top_trader_position_ratio",
        "binance/taker_volume", "binance/open_interest_day", "bybit/open_interest_day", "okx/open_interest_day")
# Binance's futures/data endpoints: the last 30 days only.
THIRTY_DAYS = ("binance/top_trader_long_short_ratio", "binance/global_long_short_ratio",
               "binance/top_trader_position_ratio", "binance/taker_volume", "binance/open_interest_day")
# Rows a day's own request asks: the open interest of the day asks its 00:00 and the next (OKX: every hour between).
OWN_DAY_ROWS = {"binance/funding_rate": 3, "binance/open_interest_day": 2, "bybit/open_interest_day": 2,
                "okx/open_interest_day": 25}


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def _s(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour), tzinfo=UTC).timestamp())


def _coinbase_s(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    return int(dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp())


# ---- the APIs' own counting (from their docs) ---------------------------------------------------------------

def _stamps_in(start_ms: int, end_ms: int, step_ms: int) -> int:
    """Rows stamped on a multiple of `step_ms` with startTime <= stamp <= endTime (Binance, Bybit: both included)."""
    return end_ms // step_ms - -(-start_ms // step_ms) + 1


def _asked(spec: DatasetSpec, request: FetchRequest, at_ms: int) -> tuple[int, int]:
    """(what the API counts for this request, the cap it counts against)."""
    p = request.params
    if spec.name == "coinbase/spot_candles_1d":
        # "If your selection of start/end time and granularity results in more than 300 data points, your request
        # is rejected": buckets from start's to end's, a bucket opening at `end` included.
        g = int(p["granularity"])
        return _coinbase_s(p["end"]) // g - _coinbase_s(p["start"]) // g + 1, 300
    if spec.name == "binance/spot_klines_1d":
        assert int(p["limit"]) <= 1000  # "Default: 500; Maximum: 1000"
        return _stamps_in(int(p["startTime"]), int(p["endTime"]), DAY_MS), int(p["limit"])
    if spec.name == "binance/funding_rate":
        assert int(p["limit"]) <= 1000  # "Default 100; max 1000"
        return _stamps_in(int(p["startTime"]), int(p["endTime"]), DAY_MS // 3), int(p["limit"])
    if spec.name in THIRTY_DAYS:
        assert int(p["limit"]) <= 500  # "default 30, max 500"
        assert int(p["startTime"]) >= at_ms - 30 * DAY_MS  # "Only the data of the latest 30 days is available"
        return _stamps_in(int(p["startTime"]), int(p["endTime"]), DAY_MS), int(p["limit"])
    if spec.name in ("bybit/open_interest_1d", "bybit/open_interest_day"):
        assert int(p["limit"]) <= 200  # "[1, 200]. Default: 50"
        return _stamps_in(int(p["startTime"]), int(p["endTime"]), DAY_MS), int(p["limit"])
    if spec.name == "okx/open_interest_day":
        assert p["period"] == "1H" and int(p["limit"]) <= 100  # rubik statistics: limit at most 100
        return _stamps_in(int(p["begin"]), int(p["end"]), 3_600_000), int(p["limit"])
    if spec.name.startswith("deribit/") and spec.name.endswith("_dvol"):
        # Not documented: public loaders measured 1000 candles an answer, the rest behind `continuation`.
        assert p["resolution"] == "1D"
        return _stamps_in(int(p["start_timestamp"]), int(p["end_timestamp"]), DAY_MS), 1000
    if spec.name.startswith("blockchain_com/"):
        assert p["sampled"] == "false"  # else thinned to ~1.5k points
        return int(p["timespan"].removesuffix("days")), 1500
    if spec.name == "mempool/hashrate":
        return 1, 1  # no row cap: the period is the window (its days are checked by parsing them below)
    raise AssertionError(f"no counter for {spec.name}")


def _respond(api: DemoApi, url: str, params: dict[str, str], at: dt.datetime = AT) -> tuple[int, bytes]:
    return api.respond(url, params, at)


# ---- every request the builders produce -------------------------------------------------------------------------

@pytest.mark.parametrize("name", MINE)
def test_the_longest_range_is_within_the_cap_and_answered_with_its_first_and_last_day(api, name):
    spec = get_dataset(*name.split("/"))
    first = LAST - dt.timedelta(days=spec.max_range_days - 1)
    request = spec.range_request_for(first, LAST, AT)
    count, cap = _asked(spec, request, AT_MS)
    assert count <= cap, (name, count, cap)
    status, body = _respond(api, request.url, request.params)
    assert status == 200, body[:200]
    middle = first + dt.timedelta(days=spec.max_range_days // 2)
    for day in (first, middle, LAST):
        parsed = spec.parse(body, day, AT, request.params) if spec.parse_takes_params else spec.parse(body, day, AT)
        assert parsed.num_rows >= 1, (name, day)
    if spec.next_page is not None:  # a range is one page
        assert spec.next_page(request, body) is None


@pytest.mark.parametrize("name", MINE)
def test_a_days_own_request_is_within_the_cap_and_asks_for_that_day_only(api, name):
    spec = get_dataset(*name.split("/"))
    request = spec.request_for(LAST, AT)
    count, cap = _asked(spec, request, AT_MS)
    assert count <= cap
    if name not in ("mempool/hashrate", "blockchain_com/hash_rate", "blockchain_com/miners_revenue"):
        # those ask a window around the day
        assert count == OWN_DAY_ROWS.get(name, 1), (name, count)  # funding: a print every 8 h


@pytest.mark.parametrize("name", [n for n in MINE if n != "mempool/hashrate"])
def test_a_builder_refuses_a_range_one_day_over_the_cap(name):
    spec = get_dataset(*name.split("/"))
    first = LAST - dt.timedelta(days=spec.max_range_days)  # max_range_days + 1 days
    with pytest.raises(ValueError, match="no single request"):
        spec.range_request_for(first, LAST, AT)
    with pytest.raises(ValueError, match=spec.dataset):  # the builder itself, not only the spec's guard
        spec.build_range_request(first, LAST, AT)


def test_every_range_a_year_backfill_asks_is_within_the_caps():
    from pipelines.ingest.body_source import consecutive_chunks

    days = [LAST - dt.timedelta(days=k) for k in range(365, -1, -1)]
    for name in MINE:
        spec = get_dataset(*name.split("/"))
        if name in THIRTY_DAYS:
            days_served = [d for d in days if d >= LAST - dt.timedelta(days=27)]
        else:
            days_served = days
        for chunk in consecutive_chunks(days_served, spec.max_range_days):
            at = scheduled_fetch_time(chunk[-1])
            count, cap = _asked(spec, spec.range_request_for(chunk[0], chunk[-1], at), int(at.timestamp() * 1000))
            assert count <= cap, (name, chunk[0], chunk[-1], count)


# ---- Coinbase: 300 buckets, both ends counted ---------------------------------------------------------------------

def test_coinbase_answers_exactly_300_daily_buckets_and_refuses_301_with_its_error(api):
    first = LAST - dt.timedelta(days=299)
    at_cap = {"granularity": "86400", "start": str(_s(first)), "end": str(_s(LAST))}
    status, body = _respond(api, CANDLES, at_cap)
    rows = json.loads(body)
    assert status == 200 and len(rows) == 300 and (rows[-1][0], rows[0][0]) == (_s(first), _s(LAST))
    over = dict(at_cap, start=str(_s(first - dt.timedelta(days=1))))
    assert _respond(api, CANDLES, over) == (400, COINBASE_TOO_MANY)
    # an end inside the last bucket counts that bucket once: still 300
    inside = dict(at_cap, end=str(_s(LAST) + 86_399))
    assert _respond(api, CANDLES, inside)[0] == 200


def test_coinbase_counts_every_granularity_the_same_way(api):
    start = _s(LAST - dt.timedelta(days=30))
    for hours, status in ((299, 200), (300, 400)):
        params = {"granularity": "3600", "start": str(start), "end": str(start + hours * 3600)}
        got, body = _respond(api, CANDLES, params)
        assert got == status
        if status == 200:
            assert len(json.loads(body)) == 300
        else:
            assert body == COINBASE_TOO_MANY


def test_the_old_coinbase_range_end_asked_301_buckets_for_300_days(api):
    # start = first 00:00, end = the day after the last at 00:00: the bucket opening at `end` is counted too.
    first = LAST - dt.timedelta(days=299)
    old = {"granularity": "86400", "start": f"{first}T00:00:00Z", "end": f"{LAST + dt.timedelta(days=1)}T00:00:00Z"}
    assert _respond(api, CANDLES, old) == (400, COINBASE_TOO_MANY)
    new = coinbase.SPOT_CANDLES_1D.range_request_for(first, LAST, AT)
    assert new.params["end"] == f"{LAST}T23:59:59Z" and _respond(api, CANDLES, new.params)[0] == 200


def test_coinbase_error_body_fails_the_parse_with_its_message():
    with pytest.raises(ParseError, match="Count of aggregations requested exceeds 300"):
        coinbase.SPOT_CANDLES_1D.parse(COINBASE_TOO_MANY, LAST, AT)


# ---- Binance spot klines: limit <= 1000, and a window wider than the limit is cut, not refused ----------------

def test_binance_klines_limit_1000_is_served_1001_refused(api):
    first = LAST - dt.timedelta(days=999)
    params = {"symbol": "BTCUSDT", "interval": "1d", "startTime": str(_s(first) * 1000),
              "endTime": str(_s(LAST) * 1000 + DAY_MS - 1), "limit": "1000"}
    status, body = _respond(api, KLINES, params)
    rows = json.loads(body)
    assert status == 200 and len(rows) == 1000 and (rows[0][0], rows[-1][0]) == (_s(first) * 1000, _s(LAST) * 1000)
    assert _respond(api, KLINES, dict(params, limit="1001")) == (400, BINANCE_BAD_LIMIT)


def test_binance_klines_window_wider_than_the_limit_silently_loses_its_last_days(api):
    # Why the builder counts its window: 1001 days at limit 1000 answers 200 without the last day.
    first = LAST - dt.timedelta(days=1000)
    params = {"symbol": "BTCUSDT", "interval": "1d", "startTime": str(_s(first) * 1000),
              "endTime": str(_s(LAST) * 1000 + DAY_MS - 1), "limit": "1000"}
    status, body = _respond(api, KLINES, params)
    assert status == 200 and len(json.loads(body)) == 1000
    with pytest.raises(ParseError, match="day absent"):
        binance.SPOT_KLINES_1D.parse(body, LAST, AT)


# ---- Binance futures ------------------------------------------------------------------------------------------------

def test_funding_limit_1000_is_served_1001_refused(api):
    params = {"symbol": "BTCUSDT", "startTime": str(_s(LAST - dt.timedelta(days=400)) * 1000), "limit": "1000"}
    status, body = _respond(api, binance_futures.FUNDING_RATE_URL, params)
    assert status == 200 and len(json.loads(body)) == 1000
    assert _respond(api, binance_futures.FUNDING_RATE_URL, dict(params, limit="1001")) == (400, BINANCE_BAD_LIMIT)


@pytest.mark.parametrize("url", [binance_futures.TOP_TRADER_RATIO_URL, binance_futures.GLOBAL_RATIO_URL])
def test_ratio_limit_500_is_served_501_refused(api, url):
    params = {"symbol": "BTCUSDT", "period": "1h", "limit": "500"}
    status, body = _respond(api, url, params)
    assert status == 200 and len(json.loads(body)) == 500
    assert _respond(api, url, dict(params, limit="501")) == (400, BINANCE_BAD_LIMIT)


@pytest.mark.parametrize("url", [binance_futures.TOP_TRADER_RATIO_URL, binance_futures.GLOBAL_RATIO_URL])
def test_ratio_start_30_days_back_is_served_a_millisecond_more_refused(api, url):
    params = {"symbol": "BTCUSDT", "period": "1d", "startTime": str(AT_MS - 30 * DAY_MS)}
    status, body = _respond(api, url, params)
    assert status == 200 and len(json.loads(body)) == 30
    assert _respond(api, url, dict(params, startTime=str(AT_MS - 30 * DAY_MS - 1))) == (400, RATIO_OLD_START)


def test_a_ratio_range_reaching_past_the_30_days_asks_from_where_they_start(api):
    spec = binance_futures.TOP_TRADER_LONG_SHORT_RATIO
    first = LAST - dt.timedelta(days=27)
    late = AT + dt.timedelta(days=3)  # a live backfill sent three days after the range's last day
    request = spec.range_request_for(first, LAST, late)
    late_ms = int(late.timestamp() * 1000)
    assert late_ms - 30 * DAY_MS < int(request.params["startTime"]) <= late_ms - 29 * DAY_MS
    _asked(spec, request, late_ms)
    status, body = _respond(api, request.url, request.params, late)
    assert status == 200
    served = [d for d in (first + dt.timedelta(days=k) for k in range(28)) if _s(d) * 1000 >= late_ms - 30 * DAY_MS]
    assert served[0] == first + dt.timedelta(days=2) and served[-1] == LAST
    for day in served:
        assert spec.parse(body, day, late).num_rows == 1
    for day in (first, first + dt.timedelta(days=1)):
        with pytest.raises(ParseError, match="day absent.*Binance serves the last 30 days only"):
            spec.parse(body, day, late)
    # the range as the builder used to send it is refused by the API
    status, body = _respond(api, request.url, dict(request.params, startTime=str(_s(first) * 1000)), late)
    assert (status, body) == (400, RATIO_OLD_START)


def test_a_ratio_range_wholly_past_the_30_days_is_refused_and_the_parse_says_why(api):
    spec = binance_futures.GLOBAL_LONG_SHORT_RATIO
    first, last = LAST - dt.timedelta(days=60), LAST - dt.timedelta(days=40)
    request = spec.range_request_for(first, last, AT)
    assert request.params["startTime"] == str(_s(first) * 1000)
    status, body = _respond(api, request.url, request.params)
    assert (status, body) == (400, RATIO_OLD_START)
    with pytest.raises(ParseError, match="startTime' is invalid.; Binance serves the last 30 days only"):
        spec.parse(body, first, AT)


# ---- Bybit: 200 rows a page ----------------------------------------------------------------------------------------

def test_bybit_limit_200_is_served_201_refused(api):
    params = {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1d", "limit": "200"}
    status, body = _respond(api, bybit.OPEN_INTEREST_URL, params)
    page = json.loads(body)
    assert status == 200 and page["retCode"] == 0 and len(page["result"]["list"]) == 200
    assert page["result"]["nextPageCursor"]  # more history behind it
    status, body = _respond(api, bybit.OPEN_INTEREST_URL, dict(params, limit="201"))
    assert status == 200 and json.loads(body)["retCode"] == 10001
    with pytest.raises(ParseError, match="error envelope: retCode 10001"):
        bybit.OPEN_INTEREST_1D.parse(body, LAST, AT)


def test_bybit_201_days_would_need_a_second_page(api):
    # Why the builder counts its window: a page holds 200 rows, and a range must be one page.
    params = dict(bybit.OPEN_INTEREST_1D.range_request_for(LAST - dt.timedelta(days=199), LAST, AT).params)
    params["startTime"] = str(int(params["startTime"]) - DAY_MS)
    request = FetchRequest("bybit", "open_interest_1d", LAST - dt.timedelta(days=200), bybit.OPEN_INTEREST_URL,
                           params, last_day=LAST)
    status, body = _respond(api, request.url, params)
    assert status == 200 and bybit.next_open_interest_page(request, body) is not None


# ---- mining: periods, timespans and pages -----------------------------------------------------------------------

@pytest.mark.parametrize("spec", blockchain_com.DATASETS, ids=lambda spec: spec.name)
def test_blockchain_com_counts_its_timespan_from_start_inclusively(api, spec):
    request = spec.range_request_for(LAST - dt.timedelta(days=365), LAST, AT)
    status, body = _respond(api, request.url, request.params)
    xs = [v["x"] for v in json.loads(body)["values"]]
    first_point = dt.date.fromisoformat(request.params["start"])
    assert status == 200 and len(xs) == int(request.params["timespan"].removesuffix("days")) - 1  # today is open
    assert xs[0] == _s(first_point) and xs[-1] == _s(LAST)
    # unsampled: every day (a sampled answer of more than 1,500 points would be thinned)
    assert all(b - a == 86_400 for a, b in zip(xs, xs[1:]))


def test_mempool_blocks_pages_hold_15_blocks(api):
    request = mempool_blocks.BLOCKS.build_request(LAST - dt.timedelta(days=5))
    status, body = _respond(api, request.url, request.params)
    height = json.loads(body)["height"]
    page = mempool_blocks.next_blocks_page(request, body)
    status, body = _respond(api, page.url, page.params)
    blocks = json.loads(body)
    assert status == 200 and len(blocks) == mempool_blocks.PAGE_BLOCKS == 15
    assert [b["height"] for b in blocks] == list(range(height + 14, height - 1, -1))


def test_mempool_hashrate_range_asks_the_period_of_its_first_day(api):
    first = LAST - dt.timedelta(days=mempool.DAYS_PER_REQUEST - 1)
    request = mempool.HASHRATE.range_request_for(first, LAST, AT)
    assert urlsplit(request.url).path.rsplit("/", 1)[1] == mempool.hashrate_period(first, AT.date())
    assert mempool.hashrate_period(first, AT.date()) == "2y"  # a year and a day back, with the retarget margin
