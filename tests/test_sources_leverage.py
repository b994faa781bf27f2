"""Leverage datasets of issue 18: Binance's top-trader position ratio and taker buy/sell volume, and the open interest
of the day (start and end, BTC and USD) on Binance, Bybit and OKX. No real body of these endpoints is recorded under
the shared fixtures (checked: /work/shared/fixtures/real/ has none), so the parsers are tested on the documented
shapes (sources.md §2.2, §2.5, §2.6; Binance's "Taker Buy/Sell Volume" and "Top Trader Long/Short Ratio
(Positions)" pages), every error case, and the request windows that make a day's end-of-day value part of its own
partition."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from pipelines.ingest.errors import ParseError
from pipelines.sources import binance_futures, bybit, okx
from pipelines.sources.registry import DATASETS
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
DAY = dt.date(2025, 11, 21)
NIGHTLY = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)  # the nightly run after DAY

POSITION = binance_futures.TOP_TRADER_POSITION_RATIO
TAKER = binance_futures.TAKER_VOLUME
BINANCE_OI = binance_futures.OPEN_INTEREST_DAY
BYBIT_OI = bybit.OPEN_INTEREST_DAY
OKX_OI = okx.OPEN_INTEREST_DAY
NEW = (POSITION, TAKER, BINANCE_OI, BYBIT_OI, OKX_OI)


def ms(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


D0, D1, D2 = ms(DAY), ms(DAY + dt.timedelta(days=1)), ms(DAY + dt.timedelta(days=2))


def error_of(spec, body, day: dt.date = DAY, fetched_at: dt.datetime = NIGHTLY) -> str:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    with pytest.raises(ParseError) as info:
        spec.parse(body, day, fetched_at)
    message = str(info.value)
    assert message.startswith(f"{spec.source}/{spec.dataset} for {day.isoformat()}: "), message
    return message


def one_row(spec, body, day: dt.date = DAY, fetched_at: dt.datetime = NIGHTLY) -> dict:
    table = spec.parse(json.dumps(body).encode(), day, fetched_at)
    assert table.schema == spec.raw_schema and table.num_rows == 1
    return table.to_pylist()[0]


# ---- specs and requests ---------------------------------------------------------------------------------------


def test_specs_are_registered_with_their_tables_schemas_and_history():
    assert [s.name for s in NEW] == [
        "binance/top_trader_position_ratio", "binance/taker_volume", "binance/open_interest_day",
        "bybit/open_interest_day", "okx/open_interest_day"]
    assert all(spec in DATASETS for spec in NEW)
    ts, f64 = pa.timestamp("us"), pa.float64()
    assert POSITION.raw_schema == binance_futures.TOP_TRADER_LONG_SHORT_RATIO.raw_schema
    assert TAKER.raw_schema == pa.schema([(PARTITION_COLUMN, pa.date32()), ("timestamp", ts),
                                          ("buy_volume_btc", f64), ("sell_volume_btc", f64),
                                          ("buy_sell_ratio", f64)])
    day_oi = [(PARTITION_COLUMN, pa.date32()), ("start_time", ts), ("end_time", ts),
              ("open_interest_start_btc", f64), ("open_interest_end_btc", f64)]
    assert BYBIT_OI.raw_schema == pa.schema(day_oi)
    usd = [("open_interest_start_usd", f64), ("open_interest_end_usd", f64)]
    assert BINANCE_OI.raw_schema == OKX_OI.raw_schema == pa.schema(day_oi + usd)
    for spec in NEW:
        assert spec.key_columns == (PARTITION_COLUMN,) and spec.backfillable and spec.asks_ranges
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140
    # 30-day Binance feeds declare it as the account ratios do; OKX's shallow depth; Bybit since launch
    for spec in (POSITION, TAKER, BINANCE_OI):
        assert spec.history == binance_futures.RATIO_HISTORY and "archive nightly" in spec.history
        assert spec.max_range_days == binance_futures.RATIO_DAYS_PER_REQUEST
    assert "shallow" in OKX_OI.history and "archive nightly" in OKX_OI.history
    assert BYBIT_OI.history == "since the contract's launch (2020-03-25)"
    assert BYBIT_OI.available_from == bybit.CONTRACT_LAUNCH


def test_requests_reach_through_the_next_midnight_for_open_interest():
    r = POSITION.build_request(DAY)
    assert r.url == "https://fapi.binance.com/futures/data/topLongShortPositionRatio"
    assert r.params == {"symbol": "BTCUSDT", "period": "1d", "startTime": str(D0), "endTime": str(D1 - 1),
                        "limit": "30"}
    r = TAKER.build_request(DAY)
    assert r.url == "https://fapi.binance.com/futures/data/takerlongshortRatio"
    assert r.params == {"symbol": "BTCUSDT", "period": "1d", "startTime": str(D0), "endTime": str(D1 - 1),
                        "limit": "30"}
    # open interest: the row stamped at the next midnight (the day's end) is inside every window
    r = BINANCE_OI.build_request(DAY)
    assert r.url == "https://fapi.binance.com/futures/data/openInterestHist"
    assert r.params == {"symbol": "BTCUSDT", "period": "1d", "startTime": str(D0), "endTime": str(D1), "limit": "30"}
    r = BYBIT_OI.build_request(DAY)
    assert r.url == "https://api.bybit.com/v5/market/open-interest"
    assert r.params == {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1d", "startTime": str(D0),
                        "endTime": str(D1), "limit": "200"}
    r = OKX_OI.build_request(DAY)
    assert r.url == "https://www.okx.com/api/v5/rubik/stat/contracts/open-interest-history"
    assert r.params == {"instId": "BTC-USDT-SWAP", "period": "1H", "begin": str(D0 - 1), "end": str(D1 + 1),
                        "limit": "100"}


def test_range_requests_stay_within_each_apis_row_limit():
    first = DAY - dt.timedelta(days=27)
    r = BINANCE_OI.range_request_for(first, DAY, NIGHTLY)
    rows = (int(r.params["endTime"]) - int(r.params["startTime"])) // 86_400_000 + 1
    assert rows == 29 <= int(r.params["limit"]) == 30
    # sent later than the night after: the start moves inside the 30 days served, as for the account ratios
    late = NIGHTLY + dt.timedelta(days=3)
    r = BINANCE_OI.range_request_for(first, DAY, late)
    assert int(r.params["startTime"]) > ms(first) and r.params["endTime"] == str(D1)
    with pytest.raises(ValueError, match="one request holds 28"):
        TAKER.build_range_request(first - dt.timedelta(days=1), DAY, NIGHTLY)
    r = BYBIT_OI.range_request_for(DAY - dt.timedelta(days=198), DAY, NIGHTLY)
    assert (int(r.params["endTime"]) - int(r.params["startTime"])) // 86_400_000 + 1 == 200
    with pytest.raises(ValueError, match="one page holds 200 rows"):
        BYBIT_OI.build_range_request(DAY - dt.timedelta(days=199), DAY, NIGHTLY)
    r = OKX_OI.range_request_for(DAY - dt.timedelta(days=3), DAY, NIGHTLY)
    hourly = (int(r.params["end"]) - 1 - (int(r.params["begin"]) + 1)) // 3_600_000 + 1
    assert OKX_OI.max_range_days == 4 and hourly == 97 <= 100
    with pytest.raises(ValueError, match="within OKX's 100-row limit"):
        OKX_OI.build_range_request(DAY - dt.timedelta(days=4), DAY, NIGHTLY)


# ---- the top traders' position ratio ------------------------------------------------------------------------


def test_position_ratio_parses_like_the_account_ratios():
    body = [{"symbol": "BTCUSDT", "longShortRatio": "1.2868", "longAccount": "0.5627", "shortAccount": "0.4373",
             "timestamp": D0}]
    row = one_row(POSITION, body)
    assert (row["long_short_ratio"], row["long_account"], row["short_account"]) == (1.2868, 0.5627, 0.4373)
    assert row["timestamp"] == dt.datetime(2025, 11, 21)
    message = error_of(POSITION, [{**body[0], "shortAccount": "0.3"}])
    assert message.endswith("longAccount 0.5627 + shortAccount 0.3 is not 1")
    assert "day absent" in error_of(POSITION, [{**body[0], "timestamp": D0 - 86_400_000}])


# ---- taker volume ---------------------------------------------------------------------------------------------

TAKER_ROW = {"buySellRatio": "0.9857", "buyVol": "58307.1980", "sellVol": "59152.8780", "timestamp": D0}


def test_taker_volume_reads_the_days_row_and_checks_the_ratio():
    row = one_row(TAKER, [{**TAKER_ROW, "timestamp": D0 - 86_400_000}, TAKER_ROW])
    assert (row["buy_volume_btc"], row["sell_volume_btc"], row["buy_sell_ratio"]) == (58307.198, 59152.878, 0.9857)
    assert row["timestamp"] == dt.datetime(2025, 11, 21)
    assert abs(row["buy_sell_ratio"] - row["buy_volume_btc"] / row["sell_volume_btc"]) < 1e-4
    # a timestamp sent as a string, as Binance documents it, is read too
    assert one_row(TAKER, [{**TAKER_ROW, "timestamp": str(D0)}]) == row


@pytest.mark.parametrize(
    ("body", "fetched_at", "reason"),
    [
        ([TAKER_ROW], dt.datetime(2025, 11, 21, 23, 0, tzinfo=UTC),
         "the day is not over: fetched_at 2025-11-21T23:00:00.000Z is before 2025-11-22T00:00:00.000Z"),
        ([{**TAKER_ROW, "buySellRatio": "1.0143"}], NIGHTLY,
         "buySellRatio 1.0143 is not buyVol / sellVol (58307.198 / 59152.878)"),
        ([{**TAKER_ROW, "sellVol": "-1"}], NIGHTLY, "negative volume: buyVol 58307.198, sellVol -1.0"),
        ([{**TAKER_ROW, "buyVol": 58307.198}], NIGHTLY, "field row #0 buyVol must be a decimal string"),
        ([{k: v for k, v in TAKER_ROW.items() if k != "sellVol"}], NIGHTLY, "missing field 'sellVol' in row #0"),
        ([{**TAKER_ROW, "timestamp": D0 + 4 * 3_600_000}], NIGHTLY, "inside the day but not 00:00: not period=1d"),
        ([], NIGHTLY, "no row stamped 2025-11-21T00:00:00.000Z (day absent) among 0 rows; Binance serves the last "
                      "30 days only"),
        ({"code": -1130, "msg": "parameter 'startTime' is invalid."}, NIGHTLY,
         "error envelope: code -1130: parameter 'startTime' is invalid.; Binance serves the last 30 days only"),
        ({"code": -1003, "msg": "Too many requests."}, NIGHTLY, "error envelope: code -1003: Too many requests."),
    ],
)
def test_taker_volume_errors_name_the_reason(body, fetched_at, reason):
    assert reason in error_of(TAKER, body, fetched_at=fetched_at)


# ---- open interest of the day ---------------------------------------------------------------------------------


def binance_oi(ts: int, btc: str, usd: str) -> dict:
    return {"symbol": "BTCUSDT", "sumOpenInterest": btc, "sumOpenInterestValue": usd,
            "CMCCirculatingSupply": "19960000", "timestamp": ts}


BINANCE_BODY = [binance_oi(D0 - 86_400_000, "80346.10600000", "7394179404.66"),
                binance_oi(D0, "79160.20300000", "7113930770.84500900"),
                binance_oi(D1, "79491.62300000", "7058336376.44637100")]


def test_binance_open_interest_keeps_the_days_start_and_end():
    row = one_row(BINANCE_OI, BINANCE_BODY)
    assert row["start_time"] == dt.datetime(2025, 11, 21) and row["end_time"] == dt.datetime(2025, 11, 22)
    assert (row["open_interest_start_btc"], row["open_interest_end_btc"]) == (79160.203, 79491.623)
    assert (row["open_interest_start_usd"], row["open_interest_end_usd"]) == (7113930770.845009, 7058336376.446371)
    # the same body read for the day before gives that day's end = this day's start (one row, two partitions)
    before = one_row(BINANCE_OI, BINANCE_BODY, DAY - dt.timedelta(days=1), NIGHTLY)
    assert before["open_interest_end_btc"] == row["open_interest_start_btc"]


@pytest.mark.parametrize(
    ("body", "fetched_at", "reason"),
    [
        (BINANCE_BODY, dt.datetime(2025, 11, 21, 23, 59, tzinfo=UTC),
         "the day is not over: fetched_at 2025-11-21T23:59:00.000Z is before 2025-11-22T00:00:00.000Z, the "
         "end-of-day value"),
        (BINANCE_BODY[:2], NIGHTLY, "no row stamped 2025-11-22T00:00:00.000Z (day absent) among 2 rows"),
        ([BINANCE_BODY[1], BINANCE_BODY[1], BINANCE_BODY[2]], NIGHTLY, "two rows stamped 2025-11-21T00:00:00.000Z"),
        ([BINANCE_BODY[1], {**BINANCE_BODY[2], "symbol": "ETHUSDT"}], NIGHTLY,
         "row #1 is for symbol 'ETHUSDT', expected BTCUSDT"),
        ([BINANCE_BODY[1], binance_oi(D1, "7058336376.446371", "79491.623")], NIGHTLY,
         "row #1 sumOpenInterestValue / sumOpenInterest = 0.00 USD per BTC is not a BTC price"),
        ([BINANCE_BODY[1], binance_oi(D1, "-1", "5")], NIGHTLY,
         "row #1 negative open interest: sumOpenInterest -1.0, sumOpenInterestValue 5.0"),
        ([BINANCE_BODY[1], binance_oi(D0 + 3_600_000, "1", "90000"), BINANCE_BODY[2]], NIGHTLY,
         "row #1 timestamp 2025-11-21T01:00:00.000Z is inside the day but not 00:00: not period=1d"),
    ],
)
def test_binance_open_interest_errors_name_the_reason(body, fetched_at, reason):
    assert reason in error_of(BINANCE_OI, body, fetched_at=fetched_at)


def bybit_body(rows: list[tuple[int, str]], code: int = 0) -> dict:
    return {"retCode": code, "retMsg": "OK", "result": {"symbol": "BTCUSDT", "category": "linear",
            "list": [{"openInterest": oi, "timestamp": str(ts)} for ts, oi in rows], "nextPageCursor": ""},
            "retExtInfo": {}, "time": D1 + 1_800_000}


def test_bybit_open_interest_of_the_day_from_one_page_newest_first():
    row = one_row(BYBIT_OI, bybit_body([(D1, "51669.55500000"), (D0, "51454.13200000")]))
    assert (row["open_interest_start_btc"], row["open_interest_end_btc"]) == (51454.132, 51669.555)
    assert row["start_time"] == dt.datetime(2025, 11, 21) and row["end_time"] == dt.datetime(2025, 11, 22)
    assert "(the day's end) among 1 rows" in error_of(BYBIT_OI, bybit_body([(D0, "51454.132")]))
    assert "negative openInterest -5.0" in error_of(BYBIT_OI, bybit_body([(D1, "-5"), (D0, "1")]))
    assert "inside the day but not 00:00: not intervalTime=1d" in error_of(
        BYBIT_OI, bybit_body([(D1, "1"), (D0 + 14_400_000, "1"), (D0, "1")]))
    assert "error envelope: retCode 10006: Too many visits!" in error_of(
        BYBIT_OI, {"retCode": 10006, "retMsg": "Too many visits!", "result": {}})
    assert "the day is not over" in error_of(BYBIT_OI, bybit_body([(D1, "1"), (D0, "1")]),
                                             fetched_at=dt.datetime(2025, 11, 21, 12, tzinfo=UTC))


def okx_body(rows: list[list[str]], code: str = "0") -> dict:
    return {"code": code, "msg": "", "data": rows}


OKX_ROWS = [[str(D1 + 3_600_000), "2782300", "27823.00", "2470500000.1"],
            [str(D1), "2782207", "27822.07", "2470417908.3775"],
            *[[str(D1 - h * 3_600_000), "2780000", "27800.00", "2470000000"] for h in range(1, 24)],
            [str(D0), "2770607", "27706.07", "2489875682.6461"]]


def test_okx_open_interest_takes_the_hourly_rows_at_both_midnights():
    row = one_row(OKX_OI, okx_body(OKX_ROWS))
    assert (row["open_interest_start_btc"], row["open_interest_end_btc"]) == (27706.07, 27822.07)
    assert (row["open_interest_start_usd"], row["open_interest_end_usd"]) == (2489875682.6461, 2470417908.3775)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (OKX_ROWS[:-1], "no row stamped 2025-11-21T00:00:00.000Z (the day's start) among 25 rows; OKX keeps only a "
                        "shallow history"),
        ([[str(D1), "27822.07", "27822.07", "2470417908.3775"], OKX_ROWS[-1]],
         "data[0] oi 27822.07 contracts x ctVal 0.01 is not oiCcy 27822.07 BTC"),
        ([OKX_ROWS[1], [str(D0 + 90_000), "1", "0.01", "900"], OKX_ROWS[-1]],
         "data[1] stamped 2025-11-21T00:01:30.000Z, not on the hour: not period=1H"),
        ([OKX_ROWS[1], OKX_ROWS[-1], OKX_ROWS[-1]], "two rows stamped 2025-11-21T00:00:00.000Z"),
        ([{"ts": str(D1)}], "data[0] is not an array [ts, oi, oiCcy, oiUsd]"),
        ([[D1, "1", "0.01", "900"]], "field data[0] ts must be a string of ms digits"),
    ],
)
def test_okx_open_interest_errors_name_the_reason(rows, reason):
    assert reason in error_of(OKX_OI, okx_body(rows))


def test_okx_error_envelope_is_reported():
    assert "error envelope: code 50011: Too Many Requests" in error_of(
        OKX_OI, {"code": "50011", "msg": "Too Many Requests", "data": []})
