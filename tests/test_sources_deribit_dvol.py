"""Deribit's volatility index (DVOL): the datasets' contract, the requests, good demo bodies and bad bodies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pyarrow as pa
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.ingest.errors import ParseError
from pipelines.sources import deribit_dvol
from pipelines.sources.deribit_dvol import BTC_DVOL, ETH_DVOL, next_dvol_page
from pipelines.sources.registry import DATASETS
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
DAY = dt.date(2025, 11, 20)
DAY_MS = 1763596800000  # 2025-11-20 00:00 UTC
MS_PER_DAY = 86_400_000
AT = scheduled_fetch_time(DAY)  # 2025-11-21 00:30 UTC, the nightly after the day
URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"
PARAMS = {"currency": "BTC", "start_timestamp": str(DAY_MS), "end_timestamp": str(DAY_MS + MS_PER_DAY - 1),
          "resolution": "1D"}


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def envelope(data: list, continuation: int | None = None) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "result": {"data": data, "continuation": continuation},
                       "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": False}).encode()


def demo_body(api: DemoApi, spec, first: dt.date, last: dt.date | None = None) -> tuple[bytes, dict]:
    request = spec.range_request_for(first, last or first, scheduled_fetch_time(last or first))
    status, body = api.respond(request.url, request.params, scheduled_fetch_time(last or first))
    assert status == 200, body[:300]
    return body, request.params


def parse_error(body: bytes, params: dict | None = None, fetched_at: dt.datetime = AT, spec=BTC_DVOL,
                day: dt.date = DAY) -> str:
    """Parse and return the ParseError's message, asserting it names source/dataset and the day."""
    with pytest.raises(ParseError) as info:
        spec.parse(body, day, fetched_at, PARAMS if params is None else params)
    message = str(info.value)
    assert message.startswith(f"deribit/{spec.dataset} for {day.isoformat()}: "), message
    assert (info.value.source, info.value.dataset, info.value.day) == ("deribit", spec.dataset, day)
    return message


# ---- the datasets and their requests ----------------------------------------------------------------------------


def test_two_datasets_on_one_parser_registered_with_their_contract():
    assert [s for s in DATASETS if s.source == "deribit" and s.dataset.endswith("_dvol")] == [BTC_DVOL, ETH_DVOL]
    for spec, currency in ((BTC_DVOL, "BTC"), (ETH_DVOL, "ETH")):
        assert (spec.name, spec.raw_table) == (f"deribit/{currency.lower()}_dvol", f"deribit__{currency.lower()}_dvol")
        assert spec.raw_schema == pa.schema(
            [(PARTITION_COLUMN, pa.date32()), ("currency", pa.string()), ("candle_time", pa.timestamp("us")),
             ("open", pa.float64()), ("high", pa.float64()), ("low", pa.float64()), ("close", pa.float64())])
        assert spec.key_columns == (PARTITION_COLUMN,) and spec.event_time_column == "candle_time"
        assert spec.backfillable and spec.asks_ranges and spec.max_range_days == 500 and spec.parse_takes_params
        assert spec.available_from == dt.date(2021, 3, 24) and spec.next_page is next_dvol_page
        assert spec.history == "since 2021-03-24 (DVOL's first day served)"
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140
        assert not spec.covers(dt.date(2021, 3, 23)) and spec.covers(dt.date(2021, 3, 24))


def test_a_days_request_asks_its_one_daily_candle():
    request = ETH_DVOL.build_request(DAY)
    assert (request.source, request.dataset, request.day, request.last_day) == ("deribit", "eth_dvol", DAY, None)
    assert request.url == URL
    assert request.params == {**PARAMS, "currency": "ETH"}


def test_a_range_asks_each_days_midnight_and_at_most_500_of_them():
    first = DAY - dt.timedelta(days=499)
    request = BTC_DVOL.range_request_for(first, DAY, AT)
    start, end = int(request.params["start_timestamp"]), int(request.params["end_timestamp"])
    assert (request.day, request.through) == (first, DAY)
    assert start == DAY_MS - 499 * MS_PER_DAY and end == DAY_MS + MS_PER_DAY - 1  # the next day's 00:00 is out
    assert len(range(start, end + 1, MS_PER_DAY)) == 500 <= deribit_dvol.ROWS_PER_PAGE
    with pytest.raises(ValueError, match=r"deribit/btc_dvol: .* is 501 daily candles; one request asks 1 to 500"):
        deribit_dvol.build_dvol_range_request(first - dt.timedelta(days=1), DAY, "BTC")


# ---- good bodies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [BTC_DVOL, ETH_DVOL], ids=lambda s: s.name)
def test_the_demo_body_of_a_day_parses_to_its_candle(api, spec):
    body, params = demo_body(api, spec, DAY)
    [candle] = json.loads(body)["result"]["data"]
    [row] = spec.parse(body, DAY, AT, params).to_pylist()
    assert row == {PARTITION_COLUMN: DAY, "currency": spec.dataset[:3].upper(),
                   "candle_time": dt.datetime(2025, 11, 20), "open": candle[1], "high": candle[2], "low": candle[3],
                   "close": candle[4]}
    assert row["low"] <= min(row["open"], row["close"]) <= max(row["open"], row["close"]) <= row["high"]
    assert 5 < row["low"] and row["high"] < 500 and row["low"] < row["high"]


def test_every_day_of_a_range_parses_to_what_its_own_request_gives(api):
    first = DAY - dt.timedelta(days=9)
    body, params = demo_body(api, ETH_DVOL, first, DAY)
    assert len(json.loads(body)["result"]["data"]) == 10
    for k in range(10):
        day = first + dt.timedelta(days=k)
        own, own_params = demo_body(api, ETH_DVOL, day)
        assert ETH_DVOL.parse(body, day, AT, params).equals(ETH_DVOL.parse(own, day, scheduled_fetch_time(day),
                                                                           own_params))


def test_candles_in_any_order_and_a_null_or_absent_continuation_are_read_alike():
    candles = [[DAY_MS - MS_PER_DAY, 50.0, 51.0, 49.0, 50.5], [DAY_MS, 50.5, 53.25, 48.0, 52.0]]
    params = {**PARAMS, "start_timestamp": str(DAY_MS - MS_PER_DAY)}
    expected = BTC_DVOL.parse(envelope(candles), DAY, AT, params)
    assert expected.to_pylist()[0]["high"] == 53.25
    assert BTC_DVOL.parse(envelope(candles[::-1]), DAY, AT, params).equals(expected)
    absent = json.dumps({"jsonrpc": "2.0", "result": {"data": candles}}).encode()
    assert BTC_DVOL.parse(absent, DAY, AT, params).equals(expected)
    integers = envelope([[DAY_MS, 50, 53, 48, 52]])  # JSON integers are numbers too
    assert BTC_DVOL.parse(integers, DAY, AT, PARAMS).to_pylist()[0]["close"] == 52.0


# ---- bad bodies: each a one-line ParseError naming source, dataset and day -----------------------------------------

GOOD = [DAY_MS, 50.5, 53.0, 48.0, 52.0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"jsonrpc":"2.0","error":{"code":10028,"message":"too_many_requests"},"testnet":false}',
         "error envelope: code 10028: too_many_requests"),
        (b"[]", "expected a JSON-RPC object, got list"),
        (b'{"jsonrpc":"2.0","usOut":1}', "missing field 'result' in the JSON-RPC envelope"),
        (b'{"jsonrpc":"2.0","result":[]}', "result must be an object {data, continuation}, got list"),
        (b'{"jsonrpc":"2.0","result":{"continuation":null}}', "missing field 'data' in result"),
        (b'{"jsonrpc":"2.0","result":{"data":{}}}', "result.data must be an array of candles"),
        (envelope([]), "no candle stamped 2025-11-20T00:00:00.000Z (day absent) among 0 candles"),
        (envelope([GOOD[:4]]), "data[0] is not an array of 5 values [timestamp, open, high, low, close]"),
        (envelope([[str(DAY_MS), *GOOD[1:]]]), "field data[0] timestamp must be a JSON integer, got str"),
        (envelope([[DAY_MS * 1000, *GOOD[1:]]]), "looks like microseconds, expected milliseconds"),
        (envelope([[DAY_MS, 50.5, "53.0", 48.0, 52.0]]), "field high of 2025-11-20T00:00:00.000Z must be a JSON "
                                                          "number, got str"),
        (envelope([[DAY_MS, 50.5, 53.0, None, 52.0]]), "field low of 2025-11-20T00:00:00.000Z is null"),
        (envelope([GOOD]).replace(b"52.0", b"NaN"), "non-finite number NaN in JSON"),
        (envelope([GOOD]).replace(b"53.0", b"1e999"), "field high of 2025-11-20T00:00:00.000Z is not finite"),
        (envelope([[DAY_MS, 50.5, 53.0, -48.0, 52.0]]), "non-positive volatility index in OHLC 50.5/53.0/-48.0/52.0"),
        (envelope([[DAY_MS, 50.5, 48.0, 53.0, 52.0]]), "inconsistent OHLC: open 50.5, high 48.0, low 53.0, close 52.0"),
        (envelope([[DAY_MS, 55.0, 53.0, 48.0, 52.0]]), "inconsistent OHLC: open 55.0, high 53.0"),
        (envelope([GOOD, GOOD]), "2 candles stamped 2025-11-20T00:00:00.000Z"),
        (envelope([[DAY_MS + 3_600_000, *GOOD[1:]]]), "data[0] stamped 2025-11-20T01:00:00.000Z, not a day's 00:00: "
                                                      "not resolution=1D"),
        (envelope([[DAY_MS - MS_PER_DAY, *GOOD[1:]], GOOD]),
         "data[0] stamped 2025-11-19T00:00:00.000Z is outside the window asked (2025-11-20T00:00:00.000Z … "
         "2025-11-20T23:59:59.999Z): not the answer to this request"),
        (envelope([[DAY_MS + MS_PER_DAY, *GOOD[1:]]]), "data[0] stamped 2025-11-21T00:00:00.000Z is outside the "
                                                      "window asked"),
        (b"", "empty body (expected JSON)"),
        (b"<html><title>Just a moment...</title></html>", "HTML page instead of JSON"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_bodies_fail_with_their_reason(body, reason):
    assert reason in parse_error(body)


def test_a_candle_still_open_or_a_day_before_the_index_is_refused():
    assert parse_error(envelope([GOOD]), fetched_at=dt.datetime(2025, 11, 20, 23, 0, tzinfo=UTC)).endswith(
        "candle still open: the day ends 2025-11-21T00:00:00.000Z, after fetched_at 2025-11-20T23:00:00.000Z")
    early = dt.date(2021, 3, 20)
    start = (early - dt.date(1970, 1, 1)).days * MS_PER_DAY
    params = {**PARAMS, "start_timestamp": str(start), "end_timestamp": str(start + MS_PER_DAY - 1)}
    assert parse_error(envelope([]), params, day=early).endswith(
        "(day absent) among 0 candles (Deribit serves DVOL from 2021-03-24)")


def test_the_pages_request_must_say_what_was_asked():
    """The body names neither the currency nor the window: the page's request params do."""
    assert "the page's request asked currency='ETH', not BTC" in parse_error(envelope([GOOD]), {**PARAMS,
                                                                                                "currency": "ETH"})
    assert "the page's request asked currency='BTC', not ETH" in parse_error(envelope([GOOD]), spec=ETH_DVOL)
    missing = {k: v for k, v in PARAMS.items() if k != "end_timestamp"}
    assert "the page's request has no end_timestamp (got '')" in parse_error(envelope([GOOD]), missing)
    later = {**PARAMS, "start_timestamp": str(DAY_MS + MS_PER_DAY), "end_timestamp": str(DAY_MS + 2 * MS_PER_DAY)}
    assert "the window asked (2025-11-21T00:00:00.000Z … 2025-11-22T00:00:00.000Z) does not hold the day" in \
        parse_error(envelope([GOOD]), later)


# ---- paging with `continuation` -------------------------------------------------------------------------------------


def _request(first: dt.date, last: dt.date):
    return BTC_DVOL.range_request_for(first, last, AT)


def test_no_continuation_or_a_page_reaching_back_to_the_start_ends_the_walk():
    request = _request(DAY - dt.timedelta(days=1), DAY)
    assert next_dvol_page(request, envelope([GOOD])) is None
    assert next_dvol_page(request, envelope([], DAY_MS)) is None
    reaching = envelope([[DAY_MS - MS_PER_DAY, *GOOD[1:]], GOOD], DAY_MS - MS_PER_DAY)
    assert next_dvol_page(request, reaching) is None


def test_a_continuation_asks_the_same_window_ending_there():
    request = _request(DAY - dt.timedelta(days=5), DAY)
    following = next_dvol_page(request, envelope([[DAY_MS - MS_PER_DAY, *GOOD[1:]], GOOD], DAY_MS - MS_PER_DAY))
    assert following == dataclasses.replace(request, params={**request.params,
                                                             "end_timestamp": str(DAY_MS - MS_PER_DAY)})
    with pytest.raises(ParseError, match=r"^deribit/btc_dvol for 2025-11-15: continuation 2025-11-21T00:00:00.000Z "
                                         r"does not move end_timestamp 2025-11-20T23:59:59.999Z back"):
        next_dvol_page(request, envelope([GOOD], DAY_MS + MS_PER_DAY))
    with pytest.raises(ParseError, match="field result.continuation must be a JSON integer, got str"):
        next_dvol_page(request, envelope([GOOD], "soon"))
