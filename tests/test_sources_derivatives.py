"""Derivatives datasets: request builders, parsers on the real funding recording and on documented shapes, every
error case, and the paging rules of Bybit (cursor) and OKX (`after`)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from pipelines.ingest.errors import ParseError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources import binance_futures, bybit, okx
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
LATE = dt.datetime(2030, 1, 1, tzinfo=UTC)
DAY = dt.date(2025, 11, 21)

FUNDING = binance_futures.FUNDING_RATE
TOP = binance_futures.TOP_TRADER_LONG_SHORT_RATIO
GLOBAL = binance_futures.GLOBAL_LONG_SHORT_RATIO
OI = bybit.OPEN_INTEREST_1D
LIQ = okx.LIQUIDATION_ORDERS
# The leverage datasets of issue 18 (position ratio, taker volume, open interest of the day) are tested in
# tests/test_sources_leverage.py.
ALL = (FUNDING, TOP, GLOBAL, OI, LIQ)


def ms(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def parse_error(spec, body: bytes | str, day: dt.date = DAY, fetched_at: dt.datetime = LATE) -> str:
    if isinstance(body, str):
        body = body.encode()
    with pytest.raises(ParseError) as info:
        spec.parse(body, day, fetched_at)
    message = str(info.value)
    assert message.startswith(f"{spec.source}/{spec.dataset} for {day.isoformat()}: "), message
    assert (info.value.source, info.value.dataset, info.value.day) == (spec.source, spec.dataset, day)
    return message


# ---- specs and request builders ---------------------------------------------------------------------------


def test_specs_declare_names_keys_event_times_and_history():
    ts, f64 = pa.timestamp("us"), pa.float64()
    assert [s.name for s in ALL] == [
        "binance/funding_rate", "binance/top_trader_long_short_ratio", "binance/global_long_short_ratio",
        "bybit/open_interest_1d", "okx/liquidation_orders",
    ]
    assert [s.raw_table for s in ALL] == [
        "binance__funding_rate", "binance__top_trader_long_short_ratio", "binance__global_long_short_ratio",
        "bybit__open_interest_1d", "okx__liquidation_orders",
    ]
    assert FUNDING.raw_schema == pa.schema([
        (PARTITION_COLUMN, pa.date32()), ("funding_time", ts), ("funding_time_ms", pa.int64()),
        ("symbol", pa.string()), ("funding_rate", f64), ("mark_price", f64),
    ])
    ratio = pa.schema([(PARTITION_COLUMN, pa.date32()), ("timestamp", ts), ("long_short_ratio", f64),
                       ("long_account", f64), ("short_account", f64)])
    assert TOP.raw_schema == ratio and GLOBAL.raw_schema == ratio
    assert OI.raw_schema == pa.schema([(PARTITION_COLUMN, pa.date32()), ("timestamp", ts), ("open_interest_btc", f64)])
    assert LIQ.raw_schema == pa.schema([
        (PARTITION_COLUMN, pa.date32()), ("ts", ts), ("inst_id", pa.string()), ("side", pa.string()),
        ("pos_side", pa.string()), ("bankruptcy_price", f64), ("size_contracts", f64), ("size_btc", f64),
        ("notional_usd", f64), ("loss", f64),
    ])
    got = {s.name: (s.key_columns, s.event_time_column, s.backfillable, s.next_page is not None) for s in ALL}
    assert got == {
        "binance/funding_rate": ((PARTITION_COLUMN, "funding_time"), "funding_time", True, False),
        "binance/top_trader_long_short_ratio": ((PARTITION_COLUMN,), "timestamp", True, False),
        "binance/global_long_short_ratio": ((PARTITION_COLUMN,), "timestamp", True, False),
        "bybit/open_interest_1d": ((PARTITION_COLUMN,), "timestamp", True, True),
        "okx/liquidation_orders": (
            (PARTITION_COLUMN, "inst_id", "ts", "side", "size_contracts", "bankruptcy_price"), "ts", False, True),
    }
    assert FUNDING.history == "since 2019-09-10"
    assert "30 days" in TOP.history and "30 days" in GLOBAL.history
    assert OI.history == "since the contract's launch (2020-03-25)"
    assert LIQ.history == "last ~24 h only (newest ~1000 orders): polled hourly, `make poll`"
    for spec in ALL:
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140
        assert not any(n.startswith("_") for n in spec.raw_schema.names)


def test_request_builders_use_the_documented_urls_and_params():
    start, end = "1763683200000", "1763769599999"  # 2025-11-21 00:00 and 23:59:59.999 UTC
    r = FUNDING.build_request(DAY)
    assert (r.source, r.dataset, r.day) == ("binance", "funding_rate", DAY)
    assert r.url == "https://fapi.binance.com/fapi/v1/fundingRate"
    assert r.params == {"symbol": "BTCUSDT", "startTime": start, "endTime": end, "limit": "1000"}
    r = TOP.build_request(DAY)
    assert r.url == "https://fapi.binance.com/futures/data/topLongShortAccountRatio"
    assert r.params == {"symbol": "BTCUSDT", "period": "1d", "startTime": start, "endTime": end, "limit": "30"}
    r = GLOBAL.build_request(DAY)
    assert r.url == "https://fapi.binance.com/futures/data/globalLongShortAccountRatio"
    assert r.params == TOP.build_request(DAY).params
    r = OI.build_request(DAY)
    assert r.url == "https://api.bybit.com/v5/market/open-interest"
    assert r.params == {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1d", "startTime": start,
                        "endTime": end, "limit": "200"}
    r = LIQ.build_request(DAY)
    assert r.url == "https://www.okx.com/api/v5/public/liquidation-orders"
    # the walk starts at the next midnight: `after` returns records OLDER than it
    assert r.params == {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled",
                        "after": "1763769600000", "limit": "100"}
    for spec in ALL:
        request = spec.build_request(DAY)
        assert (request.source, request.dataset) == (spec.source, spec.dataset)
        assert all(isinstance(v, str) for v in request.params.values())


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<html><body>403 Forbidden</body></html>", "HTML page instead of JSON"),
        (b'{"code":"0","data":[', "invalid JSON"),
        (b'[{"x": NaN}]', "non-finite number NaN"),
        (b"\xff\xfe[]", "not UTF-8"),
    ],
)
def test_undecodable_bodies_raise_a_named_parse_error(spec, body, reason):
    assert reason in parse_error(spec, body)


# ---- Binance funding rate ----------------------------------------------------------------------------------


def test_funding_reads_every_day_of_the_real_recording(real_fixtures):
    raw = (real_fixtures / "binance" / "funding_rate_BTCUSDT.json").read_bytes()
    prints = json.loads(raw)
    by_day: dict[dt.date, list[dict]] = {}
    for p in prints:
        by_day.setdefault(dt.datetime.fromtimestamp(p["fundingTime"] / 1000, UTC).date(), []).append(p)
    assert len(by_day) == 68 and sum(len(v) for v in by_day.values()) == 201
    for day, expected in by_day.items():
        table = FUNDING.parse(raw, day, LATE)
        assert table.schema == FUNDING.raw_schema
        rows = table.to_pylist()
        # 3 prints a day at 00, 08 and 16 UTC; the recording starts 2025-07-04 16:00 and ends 2025-09-09 08:00
        hours = {dt.date(2025, 7, 4): [16], dt.date(2025, 9, 9): [0, 8]}.get(day, [0, 8, 16])
        assert [r["funding_time"].hour for r in rows] == hours
        for row, p in zip(rows, expected):
            assert row["funding_time"] == dt.datetime(day.year, day.month, day.day, row["funding_time"].hour)
            assert row["funding_time_ms"] == p["fundingTime"]  # raw ms kept, jitter and all
            assert 0 <= row["funding_time_ms"] - ms(day, row["funding_time"].hour) < 60_000
            assert row["funding_rate"] == float(p["fundingRate"]) and row["mark_price"] == float(p["markPrice"])
            assert row["symbol"] == "BTCUSDT"


def test_funding_real_values_of_one_day(real_fixtures):
    raw = (real_fixtures / "binance" / "funding_rate_BTCUSDT.json").read_bytes()
    (first,) = FUNDING.parse(raw, dt.date(2025, 7, 4), LATE).to_pylist()
    assert first == {
        "partition_date": dt.date(2025, 7, 4), "funding_time": dt.datetime(2025, 7, 4, 16),
        "funding_time_ms": 1751644800001, "symbol": "BTCUSDT", "funding_rate": 0.00001797, "mark_price": 107534.7,
    }
    assert "day absent" in parse_error(FUNDING, raw, dt.date(2025, 7, 3))


def funding(day: dt.date = DAY, hour: int = 0, jitter: int = 3, **over) -> dict:
    row = {"symbol": "BTCUSDT", "fundingTime": ms(day, hour) + jitter, "fundingRate": "-0.00002310",
           "markPrice": "86500.10000000"}
    row.update(over)
    return row


def test_funding_keeps_the_days_prints_and_nulls_empty_mark_prices():
    old = dt.date(2021, 5, 19)
    body = json.dumps([funding(old - dt.timedelta(days=1), 16), funding(old, 0, markPrice=""),
                       funding(old, 8, markPrice="0.00000000"), funding(old, 16, 9, fundingRate="0.00100000"),
                       funding(old + dt.timedelta(days=1), 0)]).encode()
    rows = FUNDING.parse(body, old, LATE).to_pylist()
    assert [r["funding_time"] for r in rows] == [dt.datetime(2021, 5, 19, h) for h in (0, 8, 16)]
    assert [r["mark_price"] for r in rows] == [None, None, 86500.1]
    assert [r["funding_rate"] for r in rows] == [-0.0000231, -0.0000231, 0.001]
    assert rows[2]["funding_time_ms"] == ms(old, 16) + 9


@pytest.mark.parametrize(
    ("body", "fetched_at", "reason"),
    [
        ('{"code":-1121,"msg":"Invalid symbol."}', LATE, "error envelope: code -1121: Invalid symbol."),
        ('{"data": []}', LATE, "expected a JSON array of funding prints"),
        ("[]", LATE, "no funding print in the day"),
        (json.dumps([funding(DAY - dt.timedelta(days=1), 16)]), LATE, "day absent"),
        (json.dumps([funding(jitter=60_000)]), LATE, "not within a minute after an hour"),
        (json.dumps([funding(fundingTime=ms(DAY) * 1000)]), LATE, "microseconds"),
        (json.dumps([funding(fundingTime=str(ms(DAY)))]), LATE, "must be a JSON integer"),
        (json.dumps([funding(fundingRate=0.0001)]), LATE, "must be a decimal string"),
        (json.dumps([funding(fundingRate="1e999")]), LATE, "not finite"),
        (json.dumps([funding(fundingRate="1.5")]), LATE, "not a per-interval rate"),
        (json.dumps([funding(markPrice="-5")]), LATE, "negative markPrice"),
        (json.dumps([funding(symbol="ETHUSDT")]), LATE, "expected BTCUSDT"),
        (json.dumps([{k: v for k, v in funding().items() if k != "markPrice"}]), LATE, "missing field 'markPrice'"),
        (json.dumps([funding(jitter=1), funding(jitter=4)]), LATE, "two funding prints at 2025-11-21T00:00:00.000Z"),
        (json.dumps(["x"]), LATE, "print #0 is not an object"),
        # fetched before the day ended: its later prints may still be missing
        (json.dumps([funding()]), dt.datetime(2025, 11, 21, 20, 0, tzinfo=UTC), "the day is not over"),
    ],
)
def test_funding_errors(body, fetched_at, reason):
    assert reason in parse_error(FUNDING, body, DAY, fetched_at)


# ---- Binance long/short account ratios ---------------------------------------------------------------------


def ratio_row(day: dt.date = DAY, **over) -> dict:
    row = {"symbol": "BTCUSDT", "longShortRatio": "1.8105", "longAccount": "0.6442", "shortAccount": "0.3558",
           "timestamp": ms(day)}
    row.update(over)
    return row


@pytest.mark.parametrize("spec", [TOP, GLOBAL], ids=lambda s: s.name)
def test_ratio_reads_the_days_row_with_number_or_string_timestamps(spec):
    for stamp in (ms(DAY), str(ms(DAY))):
        body = json.dumps([ratio_row(DAY - dt.timedelta(days=1), longShortRatio="1.0000", longAccount="0.5000",
                                     shortAccount="0.5000"), ratio_row(timestamp=stamp),
                           ratio_row(DAY + dt.timedelta(days=1))]).encode()
        table = spec.parse(body, DAY, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
        assert table.schema == spec.raw_schema
        assert table.to_pylist() == [{"partition_date": DAY, "timestamp": dt.datetime(2025, 11, 21),
                                      "long_short_ratio": 1.8105, "long_account": 0.6442, "short_account": 0.3558}]


@pytest.mark.parametrize("spec", [TOP, GLOBAL], ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"code":-1130,"msg":"Data sent for parameter \'limit\' is not valid."}', "error envelope: code -1130"),
        ("[]", "day absent) among 0 rows; Binance serves the last 30 days only"),
        (json.dumps([ratio_row(DAY - dt.timedelta(days=1))]), "day absent"),
        (json.dumps([ratio_row(timestamp=ms(DAY, 4))]), "not 00:00: not period=1d"),
        (json.dumps([ratio_row(timestamp="17636832e5")]), "not an integer timestamp"),
        (json.dumps([ratio_row(), ratio_row()]), "two rows stamped"),
        (json.dumps([ratio_row(longAccount="0.7442")]), "is not 1"),
        (json.dumps([ratio_row(longShortRatio="2.5000")]), "is not longAccount / shortAccount"),
        (json.dumps([ratio_row(longAccount="1.6442", shortAccount="-0.6442")]), "out-of-range shares"),
        (json.dumps([ratio_row(longAccount=0.6442)]), "must be a decimal string"),
        (json.dumps([{k: v for k, v in ratio_row().items() if k != "shortAccount"}]), "missing field 'shortAccount'"),
        (json.dumps([ratio_row(symbol="ETHUSDT")]), "expected BTCUSDT"),
        ('{"rows": []}', "expected a JSON array"),
    ],
)
def test_ratio_errors(spec, body, reason):
    assert reason in parse_error(spec, body)


def test_ratio_row_after_the_fetch_is_refused():
    body = json.dumps([ratio_row()]).encode()
    assert "after fetched_at" in parse_error(TOP, body, DAY, dt.datetime(2025, 11, 20, 23, 0, tzinfo=UTC))


# ---- Bybit open interest -----------------------------------------------------------------------------------


def bybit_body(rows: list[dict], cursor: str = "", **over) -> bytes:
    body = {"retCode": 0, "retMsg": "OK",
            "result": {"symbol": "BTCUSDT", "category": "linear", "list": rows, "nextPageCursor": cursor},
            "retExtInfo": {}, "time": ms(DAY + dt.timedelta(days=1), 0, 30)}
    body.update(over)
    return json.dumps(body).encode()


def oi_row(day: dt.date = DAY, value: str = "51454.13200000", hour: int = 0) -> dict:
    return {"openInterest": value, "timestamp": str(ms(day, hour))}


def test_bybit_keeps_the_row_stamped_at_the_days_midnight_newest_first():
    body = bybit_body(
        [oi_row(DAY + dt.timedelta(days=1), "50000"), oi_row(DAY), oi_row(DAY - dt.timedelta(days=1), "1")]
    )
    table = OI.parse(body, DAY, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    assert table.schema == OI.raw_schema
    assert table.to_pylist() == [{"partition_date": DAY, "timestamp": dt.datetime(2025, 11, 21),
                                  "open_interest_btc": 51454.132}]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bybit_body([], retCode=10001, retMsg="params error: symbol invalid"),
         "error envelope: retCode 10001: params error: symbol invalid"),
        (bybit_body([], retCode="0"), "retCode must be a JSON integer"),
        (bybit_body([]), "empty result.list"),
        (bybit_body([oi_row(DAY - dt.timedelta(days=1))]), "day absent"),
        (bybit_body([oi_row(hour=4), oi_row()]), "not 00:00: not intervalTime=1d"),
        (bybit_body([oi_row(), oi_row()]), "two rows stamped"),
        (bybit_body([oi_row(value="-1")]), "negative openInterest"),
        (bybit_body([oi_row(value="1,234.5")]), "not a decimal number"),
        (bybit_body([{"timestamp": str(ms(DAY))}]), "missing field 'openInterest' in list[0]"),
        (bybit_body([{"openInterest": "1", "timestamp": str(ms(DAY) * 1000)}]), "microseconds"),
        (bybit_body([{"openInterest": "1", "timestamp": 1.5e12}]), "must be a JSON integer"),
        (json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": {}}}).encode(), "result.list must be an array"),
        (json.dumps({"retCode": 0, "retMsg": "OK"}).encode(), "missing field 'result'"),
        (json.dumps({"retCode": 0, "result": {"symbol": "ETHUSDT", "list": [oi_row()]}}).encode(),
         "result.symbol is 'ETHUSDT'"),
        (b"[]", "expected a JSON object"),
    ],
)
def test_bybit_errors(body, reason):
    assert reason in parse_error(OI, body)


def test_bybit_next_page_follows_the_cursor_until_the_window_is_covered():
    request = OI.build_request(DAY)
    # the day's own window: one row, at the window's start: done, whatever the cursor says
    assert OI.next_page(request, bybit_body([oi_row()], cursor="abc")) is None
    # an empty cursor or an empty page ends the walk
    wide = FetchRequest("bybit", "open_interest_1d", DAY, request.url,
                        {**request.params, "startTime": str(ms(DAY - dt.timedelta(days=10)))})
    assert OI.next_page(wide, bybit_body([oi_row()], cursor="")) is None
    assert OI.next_page(wide, bybit_body([], cursor="abc")) is None
    following = OI.next_page(wide, bybit_body([oi_row()], cursor="abc"))
    assert following.params == {**wide.params, "cursor": "abc"} and following.url == wide.url
    with pytest.raises(ParseError, match="repeats the request's cursor"):
        OI.next_page(following, bybit_body([oi_row()], cursor="abc"))


# ---- OKX liquidation orders --------------------------------------------------------------------------------


def detail(ts: int, side: str = "sell", pos_side: str = "long", px: str = "86321.5", sz: str = "12.5",
           loss: str = "0") -> dict:
    return {"bkLoss": loss, "bkPx": px, "ccy": "", "posSide": pos_side, "side": side, "sz": sz, "ts": str(ts)}


def okx_body(details: list[dict], inst_id: str = "BTC-USDT-SWAP", **over) -> bytes:
    entry = {"details": details, "instFamily": "BTC-USDT", "instId": inst_id, "instType": "SWAP",
             "totalLoss": "0", "uly": "BTC-USDT"}
    body = {"code": "0", "msg": "", "data": [entry] if details is not None else []}
    body.update(over)
    return json.dumps(body).encode()


def test_okx_one_row_per_detail_with_btc_and_usd_sizes():
    t = ms(DAY, 13, 5)
    body = okx_body([
        detail(t + 2000, "buy", "short", px="87010.2", sz="3", loss="12.5"),
        detail(t + 1000, sz="21.85"),
        detail(t, "sell", "net", px="86000.0", sz="0.01", loss=""),
        detail(ms(DAY) - 1, sz="999"),  # the previous day's tail: not this partition's
    ])
    table = LIQ.parse(body, DAY, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    assert table.schema == LIQ.raw_schema
    rows = table.to_pylist()
    assert [r["ts"] for r in rows] == [dt.datetime(2025, 11, 21, 13, 5, s) for s in (0, 1, 2)]  # sorted by key
    assert rows[0] == {"partition_date": DAY, "ts": dt.datetime(2025, 11, 21, 13, 5), "inst_id": "BTC-USDT-SWAP",
                       "side": "sell", "pos_side": "net", "bankruptcy_price": 86000.0, "size_contracts": 0.01,
                       "size_btc": 0.0001, "notional_usd": 8.6, "loss": None}
    assert rows[1]["size_btc"] == 0.2185 and rows[1]["notional_usd"] == pytest.approx(0.2185 * 86321.5)
    assert rows[2]["side"] == "buy" and rows[2]["pos_side"] == "short" and rows[2]["loss"] == 12.5
    assert rows[2]["size_btc"] == 0.03 and rows[2]["notional_usd"] == pytest.approx(2610.306)


def test_okx_empty_pages_are_empty_tables_and_repeats_are_kept_once():
    assert LIQ.parse(okx_body(None), DAY, LATE).num_rows == 0  # data: [] (end of the feed)
    assert LIQ.parse(okx_body([]), DAY, LATE).num_rows == 0
    assert LIQ.parse(okx_body([detail(ms(DAY) - 5)]), DAY, LATE).num_rows == 0  # only the day before
    same = detail(ms(DAY, 3))
    assert LIQ.parse(okx_body([same, same]), DAY, LATE).num_rows == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (okx_body([], code="50015", msg="Either parameter uly or instFamily is required"),
         "error envelope: code 50015: Either parameter uly or instFamily is required"),
        (b'{"msg": "", "data": []}', "missing field 'code'"),
        (b'{"code": "0", "data": {}}', "data must be an array"),
        (b'{"code": "0", "data": [{"instId": "BTC-USDT-SWAP"}]}', "missing field 'details' in data[0]"),
        (okx_body([detail(ms(DAY, 1))], inst_id="ETH-USDT-SWAP"), "no known contract value"),
        (okx_body([detail(ms(DAY, 1), side="buy", pos_side="long")]), "cannot liquidate a long position"),
        (okx_body([detail(ms(DAY, 1), side="sell", pos_side="short")]), "cannot liquidate a short position"),
        (okx_body([detail(ms(DAY, 1), side="SELL")]), "is not buy or sell"),
        (okx_body([detail(ms(DAY, 1), pos_side="both")]), "is not long, short or net"),
        (okx_body([{**detail(ms(DAY, 1)), "ts": ms(DAY, 1)}]), "must be a string of ms digits"),
        (okx_body([detail(ms(DAY, 1) * 1000)]), "microseconds"),
        (okx_body([detail(ms(DAY, 1), sz="0")]), "non-positive bkPx"),
        (okx_body([detail(ms(DAY, 1), px="NaN")]), "not a decimal number"),
        (okx_body([detail(ms(DAY, 1), loss="-3")]), "negative bkLoss"),
        (okx_body([{k: v for k, v in detail(ms(DAY, 1)).items() if k != "bkLoss"}]), "missing field 'bkLoss'"),
        (okx_body([detail(ms(DAY, 1)), detail(ms(DAY, 1), loss="5")]), "share the key"),
        (okx_body([detail(ms(DAY + dt.timedelta(days=2)))]), "after fetched_at"),
        (b"[]", "expected a JSON object"),
    ],
)
def test_okx_errors(body, reason):
    fetched = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    assert reason in parse_error(LIQ, body, DAY, fetched)


def test_okx_next_page_walks_back_until_the_day_start_is_passed():
    first = LIQ.build_request(DAY)
    full = [detail(ms(DAY, 23, 59) - i * 1000) for i in range(100)]
    following = LIQ.next_page(first, okx_body(full))
    oldest = ms(DAY, 23, 59) - 99_000
    # records older than oldest + 1 ms: the oldest millisecond is asked again (repeats are dropped on stitching)
    assert following.params == {**first.params, "after": str(oldest + 1)}
    # a page reaching into the previous day, a short page (the feed ran out) or an empty one ends the walk
    assert LIQ.next_page(following, okx_body(full[:99] + [detail(ms(DAY) - 1)])) is None
    assert LIQ.next_page(following, okx_body(full[:40])) is None
    assert LIQ.next_page(following, okx_body(None)) is None
    # a whole page within one ms: step past it rather than ask for it forever
    stuck = FetchRequest("okx", "liquidation_orders", DAY, first.url, {**first.params, "after": str(oldest + 1)})
    same_ms = [detail(oldest, sz=str(i + 1)) for i in range(100)]
    assert LIQ.next_page(stuck, okx_body(same_ms)).params["after"] == str(oldest)


def test_every_parse_error_names_source_dataset_and_day():
    for spec in ALL:
        message = parse_error(spec, b"{}" if spec.source != "binance" else b'{"code":-1,"msg":"x"}')
        assert message.startswith(f"{spec.source}/{spec.dataset} for 2025-11-21: ")
