"""Request builders and parsers of every dataset: real recorded bodies, documented shapes, and every error case."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ingest.errors import ParseError
from pipelines.sources import binance, coinbase, deribit, mempool
from pipelines.sources._wire import decimal_str_float
from pipelines.sources.registry import DATASETS, get_dataset
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
LATE = dt.datetime(2030, 1, 1, tzinfo=UTC)  # a fetch long after any recorded day closed


def ms(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def parse_error(spec, body: bytes, day: dt.date, fetched_at: dt.datetime = LATE) -> str:
    """Parse and return the ParseError message, asserting it names source/dataset and the date."""
    with pytest.raises(ParseError) as info:
        spec.parse(body, day, fetched_at)
    message = str(info.value)
    assert message.startswith(f"{spec.source}/{spec.dataset} for {day.isoformat()}: ")
    assert info.value.source == spec.source and info.value.dataset == spec.dataset and info.value.day == day
    return message


# ---- registry and request builders ----------------------------------------------------------------------


def test_registry_lists_every_dataset_with_one_line_descriptions():
    names = [d.name for d in DATASETS]
    assert {"binance/spot_klines_1d", "coinbase/spot_candles_1d", "mempool/hashrate",
            "deribit/option_book_summary"} <= set(names)  # the datasets the foundation promised stay
    assert len(names) == len(set(names))
    for spec in DATASETS:
        assert get_dataset(spec.source, spec.dataset) is spec
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140
        assert spec.raw_schema.names[0] == PARTITION_COLUMN
    with pytest.raises(KeyError, match="unknown dataset binance/nope"):
        get_dataset("binance", "nope")


def test_raw_schemas_are_the_contract():
    ts, f64 = pa.timestamp("us"), pa.float64()
    assert binance.SPOT_KLINES_1D.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("open_time", ts), ("close_time", ts), ("open", f64), ("high", f64),
         ("low", f64), ("close", f64), ("volume_btc", f64), ("quote_volume_usdt", f64), ("trades", pa.int64()),
         ("taker_buy_base_btc", f64), ("taker_buy_quote_usdt", f64)]
    )
    assert coinbase.SPOT_CANDLES_1D.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("bucket_start", ts), ("open", f64), ("high", f64), ("low", f64),
         ("close", f64), ("volume_btc", f64)]
    )
    assert mempool.HASHRATE.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("label_time", ts), ("avg_hashrate_hs", f64), ("difficulty", f64)]
    )
    assert deribit.OPTION_BOOK_SUMMARY.raw_schema.names == [
        PARTITION_COLUMN, "instrument_name", "creation_time", "base_currency", "quote_currency", "underlying_index",
        "underlying_price", "estimated_delivery_price", "interest_rate", "open_interest", "volume", "mark_price",
        "mark_iv", "bid_price", "ask_price", "mid_price", "last", "high", "low", "price_change",
    ]
    keys = {d.name: (d.key_columns, d.event_time_column) for d in DATASETS if d.name in FOUNDATION}
    assert keys == {
        "binance/spot_klines_1d": ((PARTITION_COLUMN,), "open_time"),
        "coinbase/spot_candles_1d": ((PARTITION_COLUMN,), "bucket_start"),
        "mempool/hashrate": ((PARTITION_COLUMN,), None),
        "deribit/option_book_summary": ((PARTITION_COLUMN, "instrument_name"), None),
    }


FOUNDATION = ("binance/spot_klines_1d", "coinbase/spot_candles_1d", "mempool/hashrate", "deribit/option_book_summary")


def test_request_builders_produce_the_documented_urls_and_params():
    day = dt.date(2025, 11, 21)
    r = binance.SPOT_KLINES_1D.build_request(day)
    assert (r.source, r.dataset, r.day) == ("binance", "spot_klines_1d", day)
    assert r.url == "https://data-api.binance.vision/api/v3/klines"
    assert r.params == {"symbol": "BTCUSDT", "interval": "1d", "startTime": "1763683200000",
                        "endTime": "1763769599999", "limit": "1000"}
    r = coinbase.SPOT_CANDLES_1D.build_request(day)
    assert r.url == "https://api.exchange.coinbase.com/products/BTC-USD/candles"
    # the day's bucket only: Coinbase counts a bucket opening at `end` too (tests/test_request_caps.py)
    assert r.params == {"granularity": "86400", "start": "2025-11-21T00:00:00Z", "end": "2025-11-21T23:59:59Z"}
    r = mempool.HASHRATE.request_for(day, dt.datetime(2025, 11, 22, 0, 30, tzinfo=dt.UTC))  # the nightly fetch
    assert (r.url, r.params) == ("https://mempool.space/api/v1/mining/hashrate/1m", {})
    r = deribit.OPTION_BOOK_SUMMARY.build_request(day)
    assert r.url == "https://www.deribit.com/api/v2/public/get_book_summary_by_currency"
    assert r.params == {"currency": "BTC", "kind": "option"}
    # every param value is a string (they go on the wire as they are)
    for spec in DATASETS:
        if spec.bind is not None:  # its requests exist once bound to the warehouse (polymarket/prices_history)
            continue
        assert all(isinstance(v, str) for v in spec.build_request(day).params.values())


# ---- shared decoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", DATASETS, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b"<!DOCTYPE html><html><body>429 Too Many Requests</body></html>", "HTML page instead of JSON"),
        (b'[[1638835200000,"50441.91","519', "invalid JSON"),
        (b'{"result": [', "invalid JSON"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b'{"x": NaN}', "non-finite number NaN"),
        (b"[Infinity]", "non-finite number Infinity"),
    ],
)
def test_undecodable_bodies_raise_a_named_parse_error(spec, body, reason):
    assert reason in parse_error(spec, body, dt.date(2025, 11, 21))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**12))
def test_decimal_strings_read_as_the_nearest_double(value: Decimal):
    # The module note's claim: float() of a decimal string is correctly rounded, so Decimal adds nothing.
    text = f"{value:.8f}"
    assert decimal_str_float(text, "x", None) == float(Decimal(text))


# ---- Binance -----------------------------------------------------------------------------------------------

SPEC_BN = binance.SPOT_KLINES_1D


def kline(day: dt.date, **over) -> list:
    row = [ms(day), "100.5", "110.25", "99.00000000", "105.1", "12.34567", ms(day) + 86_399_999, "1296.0",
           42, "6.5", "680.0", "0"]
    names = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote", "trades",
             "taker_base", "taker_quote", "ignore"]
    for k, v in over.items():
        row[names.index(k)] = v
    return row


def test_binance_reads_every_day_of_the_real_recording(real_fixtures):
    raw = (real_fixtures / "binance" / "spot_klines_1d_BTCUSDT_head120.json").read_bytes()
    rows = json.loads(raw)
    assert len(rows) == 120
    for row in rows:
        day = dt.datetime.fromtimestamp(row[0] / 1000, UTC).date()
        table = SPEC_BN.parse(raw, day, LATE)
        assert table.schema == SPEC_BN.raw_schema and table.num_rows == 1
        got = table.to_pylist()[0]
        assert got["open_time"] == dt.datetime(day.year, day.month, day.day)
        assert got["close"] == float(row[4]) and got["trades"] == row[8]
        assert got["quote_volume_usdt"] == float(row[7])


def test_binance_real_day_values(real_fixtures):
    raw = (real_fixtures / "binance" / "spot_klines_1d_BTCUSDT_head120.json").read_bytes()
    got = SPEC_BN.parse(raw, dt.date(2021, 12, 8), LATE).to_pylist()[0]
    assert got == {
        "partition_date": dt.date(2021, 12, 8),
        "open_time": dt.datetime(2021, 12, 8),
        "close_time": dt.datetime(2021, 12, 8, 23, 59, 59, 999000),
        "open": 50588.95, "high": 51200.0, "low": 48600.0, "close": 50471.19,
        "volume_btc": 38425.92466, "quote_volume_usdt": 1925458787.1147522, "trades": 1118225,
        "taker_buy_base_btc": 18126.84362, "taker_buy_quote_usdt": 908410692.2460091,
    }
    # a day before the recording starts is absent, not silently empty
    assert "day absent" in parse_error(SPEC_BN, raw, dt.date(2021, 12, 6))


def test_binance_keeps_only_the_days_row_among_neighbours():
    day = dt.date(2025, 11, 21)
    body = json.dumps([kline(day - dt.timedelta(days=1), close="1.0", low="0.5"), kline(day),
                       kline(day + dt.timedelta(days=1))]).encode()
    got = SPEC_BN.parse(body, day, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)).to_pylist()
    assert [r["close"] for r in got] == [105.1] and got[0]["volume_btc"] == 12.34567


@pytest.mark.parametrize(
    ("body", "fetched_at", "reason"),
    [
        ('{"code":-1121,"msg":"Invalid symbol."}', LATE, "error envelope: code -1121: Invalid symbol."),
        ("[]", LATE, "day absent"),
        ('{"data": []}', LATE, "expected a JSON array of klines"),
        ('"ok"', LATE, "expected a JSON array of klines"),
        (json.dumps([kline(dt.date(2025, 11, 21))[:11]]), LATE, "not an array of 12 fields"),
        (json.dumps([kline(dt.date(2025, 11, 21), open_time=ms(dt.date(2025, 11, 21)) * 1000)]), LATE, "microseconds"),
        (json.dumps([kline(dt.date(2025, 11, 21), open_time="1763683200000")]), LATE, "must be a JSON integer"),
        (json.dumps([kline(dt.date(2025, 11, 21), close=105.1)]), LATE, "must be a decimal string"),
        (json.dumps([kline(dt.date(2025, 11, 21), close="NaN")]), LATE, "not a decimal number"),
        (json.dumps([kline(dt.date(2025, 11, 21), volume="1e999")]), LATE, "not finite"),
        (json.dumps([kline(dt.date(2025, 11, 21), high="104")]), LATE, "inconsistent OHLC"),
        (json.dumps([kline(dt.date(2025, 11, 21), low="-1")]), LATE, "non-positive price"),
        (json.dumps([kline(dt.date(2025, 11, 21), close_time=ms(dt.date(2025, 11, 21)) + 3_599_999)]), LATE,
         "not a 1d kline"),
        (json.dumps([kline(dt.date(2025, 11, 21))] * 2), LATE, "two klines"),
        # fetched before the day ended: Binance returns the open candle, its closeTime in the future
        (json.dumps([kline(dt.date(2025, 11, 21))]), dt.datetime(2025, 11, 21, 13, 0, tzinfo=UTC), "candle still open"),
        (json.dumps([kline(dt.date(2025, 11, 21))]), dt.datetime(2025, 11, 21, 23, 59, 59, 999000, tzinfo=UTC),
         "candle still open"),
    ],
)
def test_binance_errors(body, fetched_at, reason):
    assert reason in parse_error(SPEC_BN, body.encode(), dt.date(2025, 11, 21), fetched_at)


def test_binance_candle_closed_one_ms_before_fetch_is_accepted():
    day = dt.date(2025, 11, 21)
    fetched = dt.datetime(2025, 11, 22, tzinfo=UTC)
    assert SPEC_BN.parse(json.dumps([kline(day)]).encode(), day, fetched).num_rows == 1


# ---- Coinbase Exchange -------------------------------------------------------------------------------------

SPEC_CB = coinbase.SPOT_CANDLES_1D
NOV21 = dt.date(2025, 11, 21)
NOV21_S = ms(NOV21) // 1000


def cb_body(*rows) -> bytes:
    return json.dumps(list(rows)).encode()


def test_coinbase_reads_exchange_arrays_in_wire_order_newest_first():
    # [time, low, high, open, close, volume]: low before high before open (not OHLC)
    body = cb_body(
        [NOV21_S + 86400, 88000.0, 89000.5, 88500, 88900.01, 12.5],  # the next day's open candle
        [NOV21_S, 85000.12, 92000.99, 90000, 88700.5, 15432.12345678],
        [NOV21_S - 86400, 89000, 93000, 91000, 90000, 9000],
    )
    table = SPEC_CB.parse(body, NOV21, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    assert table.schema == SPEC_CB.raw_schema
    assert table.to_pylist() == [{
        "partition_date": NOV21, "bucket_start": dt.datetime(2025, 11, 21), "open": 90000.0, "high": 92000.99,
        "low": 85000.12, "close": 88700.5, "volume_btc": 15432.12345678,
    }]


def test_coinbase_rejects_the_advanced_trade_shape(real_fixtures):
    # The only recorded Coinbase body is the Advanced Trade API's ({"candles":[{...strings}]}), a different
    # wire format: the Exchange parser must say so rather than read it.
    raw = (real_fixtures / "coinbase" / "advanced_trade_candles.json").read_bytes()
    day = dt.datetime.fromtimestamp(int(json.loads(raw)["candles"][0]["start"]), UTC).date()
    assert "expected a JSON array of candles" in parse_error(SPEC_CB, raw, day)


@pytest.mark.parametrize(
    ("body", "fetched_at", "reason"),
    [
        (b'{"message":"Unsupported granularity"}', LATE, "error envelope: Unsupported granularity"),
        (b"[]", LATE, "day absent"),
        (cb_body([NOV21_S - 86400, 1, 2, 1, 2, 3]), LATE, "day absent"),
        (cb_body([NOV21_S * 1000, 1, 2, 1, 2, 3]), LATE, "milliseconds"),
        (cb_body([NOV21_S, 1, 2, 1, 2]), LATE, "not an array of 6 fields"),
        (cb_body({"time": NOV21_S}), LATE, "not an array of 6 fields"),
        (cb_body([NOV21_S, "1", 2, 1, 2, 3]), LATE, "must be a JSON number"),
        (cb_body([NOV21_S, 1, None, 1, 2, 3]), LATE, "field high is null"),
        (cb_body([NOV21_S, 3, 2, 2.5, 2, 3]), LATE, "inconsistent OHLC"),
        (cb_body([NOV21_S, 1, 2, 1, 2, -3]), LATE, "negative volume"),
        (cb_body([NOV21_S, 1, 2, 1, 2, 3], [NOV21_S, 1, 2, 1, 2, 3]), LATE, "two candles"),
        (cb_body([NOV21_S, 1, 2, 1, 2, 3]), dt.datetime(2025, 11, 21, 18, tzinfo=UTC), "candle still open"),
    ],
)
def test_coinbase_errors(body, fetched_at, reason):
    assert reason in parse_error(SPEC_CB, body, NOV21, fetched_at)


# ---- mempool -----------------------------------------------------------------------------------------------

SPEC_MP = mempool.HASHRATE


def label(day: dt.date) -> int:
    return ms(day + dt.timedelta(days=1)) // 1000


def mp_body(days, adjustments, current=150e12, **drop) -> bytes:
    body = {
        "hashrates": [{"timestamp": label(d), "avgHashrate": 1.0e21 + i * 1e18} for i, d in enumerate(days)],
        "difficulty": adjustments,
        "currentHashrate": 9.5e20,
        "currentDifficulty": current,
    }
    for key in drop:
        del body[key]
    return json.dumps(body).encode()


WEEK = [NOV21 - dt.timedelta(days=6 - i) for i in range(7)]
ADJ_NOV12 = {"time": ms(dt.date(2025, 11, 12), 3) // 1000, "height": 923328, "difficulty": 143.0e12,
             "adjustment": 0.968353}
ADJ_NOV30 = {"time": ms(dt.date(2025, 11, 30), 9) // 1000, "height": 925344, "difficulty": 139.0e12, "adjustment": 0.97}


def test_mempool_labels_the_day_by_the_midnight_ending_it():
    table = SPEC_MP.parse(mp_body(WEEK, [ADJ_NOV12]), NOV21, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    assert table.schema == SPEC_MP.raw_schema
    assert table.to_pylist() == [{"partition_date": NOV21, "label_time": dt.datetime(2025, 11, 22),
                                  "avg_hashrate_hs": 1.006e21, "difficulty": 143.0e12}]


def test_mempool_difficulty_is_the_latest_retarget_before_the_label():
    older = dict(ADJ_NOV12, time=ms(dt.date(2025, 10, 29)) // 1000, difficulty=147.7e12)
    same_day = dict(ADJ_NOV12, time=ms(NOV21, 23) // 1000, difficulty=151.0e12)
    body = mp_body(WEEK, [older, same_day, ADJ_NOV12])  # unordered on purpose
    # a retarget late on the day itself is before the label (next midnight): it counts
    assert SPEC_MP.parse(body, NOV21, LATE).column("difficulty").to_pylist() == [151.0e12]
    assert SPEC_MP.parse(body, NOV21 - dt.timedelta(days=3), LATE).column("difficulty").to_pylist() == [143.0e12]


def test_mempool_uses_current_difficulty_only_for_the_latest_day_without_retarget():
    body = mp_body(WEEK, [])
    assert SPEC_MP.parse(body, NOV21, LATE).column("difficulty").to_pylist() == [150e12]
    message = parse_error(SPEC_MP, body, NOV21 - dt.timedelta(days=1))
    assert "no difficulty adjustment before 2025-11-21T00:00:00.000Z" in message
    # a retarget after the day (and none before) means currentDifficulty is no longer the day's
    assert "currentDifficulty does not apply" in parse_error(SPEC_MP, mp_body(WEEK, [ADJ_NOV30]), NOV21)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (mp_body(WEEK, [ADJ_NOV12], hashrates=1), "missing field 'hashrates'"),
        (mp_body(WEEK, [ADJ_NOV12], currentDifficulty=1), "missing field 'currentDifficulty'"),
        (mp_body([], [ADJ_NOV12]), "empty hashrates array"),
        (mp_body(WEEK[:-1], [ADJ_NOV12]), "no hashrate row labelled 2025-11-22T00:00:00.000Z"),
        (b'{"error": "Too many requests"}', "error envelope: Too many requests"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps({"hashrates": [{"timestamp": label(NOV21)}], "difficulty": [], "currentHashrate": 1,
                     "currentDifficulty": 1}).encode(), "missing field 'avgHashrate'"),
        (json.dumps({"hashrates": [{"timestamp": label(NOV21), "avgHashrate": -5.0}], "difficulty": [ADJ_NOV12],
                     "currentHashrate": 1, "currentDifficulty": 1}).encode(), "non-positive avgHashrate"),
        (json.dumps({"hashrates": [{"timestamp": str(label(NOV21)), "avgHashrate": 1e21}], "difficulty": [],
                     "currentHashrate": 1, "currentDifficulty": 1}).encode(), "must be a JSON integer"),
        (mp_body(WEEK, [{"time": ADJ_NOV12["time"], "height": 1}]), "missing field 'difficulty' in difficulty[0]"),
        (mp_body(WEEK, [dict(ADJ_NOV12, difficulty=None)]), "difficulty[0].difficulty is null"),
    ],
)
def test_mempool_errors(body, reason):
    assert reason in parse_error(SPEC_MP, body, NOV21)


def test_mempool_rejects_a_row_labelled_after_the_fetch():
    message = parse_error(SPEC_MP, mp_body(WEEK, [ADJ_NOV12]), NOV21, dt.datetime(2025, 11, 21, 23, tzinfo=UTC))
    assert "after fetched_at: the day was not over" in message


# ---- Deribit -----------------------------------------------------------------------------------------------

SPEC_DB = deribit.OPTION_BOOK_SUMMARY


def db_row(name: str = "BTC-28NOV25-90000-C", **over) -> dict:
    row = {
        "volume": 12.3, "underlying_price": 89100.5, "underlying_index": "SYN.BTC-28NOV25", "quote_currency": "BTC",
        "price_change": None, "open_interest": 1500.1, "mid_price": None, "mark_price": 0.0123, "mark_iv": 48.5,
        "low": None, "last": 0.012, "interest_rate": 0.0, "instrument_name": name, "high": None,
        "estimated_delivery_price": 88700.0, "creation_timestamp": 1763771400000, "bid_price": None,
        "base_currency": "BTC", "ask_price": 0.0125,
    }
    row.update(over)
    return row


def db_body(rows=None, **envelope) -> bytes:
    body = {"jsonrpc": "2.0", "result": [db_row()] if rows is None else rows, "usIn": 1, "usOut": 2, "usDiff": 1,
            "testnet": False}
    body.update(envelope)
    return json.dumps(body).encode()


def test_deribit_reads_the_real_2020_chain_with_nulls_kept(real_fixtures):
    raw = (real_fixtures / "deribit" / "book_summary_btc_option_2020-05-21.json").read_bytes()
    day = dt.date(2020, 5, 21)
    table = SPEC_DB.parse(raw, day, dt.datetime(2020, 5, 21, 23, 30, tzinfo=UTC))
    assert table.schema == SPEC_DB.raw_schema
    assert table.num_rows == 326
    names = table.column("instrument_name").to_pylist()
    assert names == sorted(names) and len(set(names)) == 326
    # null is "no quote / no trade": kept as null, never turned into 0
    nulls = {c: table.column(c).null_count for c in ("bid_price", "ask_price", "mid_price", "last", "high", "low",
                                                     "price_change", "volume", "open_interest", "mark_iv")}
    assert nulls == {"bid_price": 64, "ask_price": 49, "mid_price": 98, "last": 66, "high": 137, "low": 137,
                     "price_change": 137, "volume": 137, "open_interest": 0, "mark_iv": 0}
    row = table.filter(pc.equal(table.column("instrument_name"), "BTC-22MAY20-9250-P")).to_pylist()[0]
    assert row == {
        "partition_date": day, "instrument_name": "BTC-22MAY20-9250-P",
        "creation_time": dt.datetime(2020, 5, 21, 23, 19, 53, 775000), "base_currency": "BTC",
        "quote_currency": "BTC", "underlying_index": "SYN.BTC-22MAY20", "underlying_price": 9096.11,
        "estimated_delivery_price": 9095.83, "interest_rate": 0.0, "open_interest": 418.9, "volume": 717.1,
        "mark_price": 0.02124908, "mark_iv": 85.05, "bid_price": 0.02, "ask_price": 0.023, "mid_price": 0.0215,
        "last": 0.02, "high": 0.05, "low": 0.006, "price_change": 90.4762,
    }
    assert set(table.column("underlying_index").to_pylist()) >= {"BTC-26JUN20", "SYN.BTC-5JUN20"}


def test_deribit_leaves_out_linear_options_and_keeps_misnamed_rows_for_quarantine():
    rows = [
        db_row("BTC-5DEC25-90000-P"),
        db_row("BTC-28NOV25-90000-C"),
        db_row("BTC_USDC-28NOV25-90000-C"),  # linear USDC option: not this dataset
        db_row("BTC-05DEC25-90000-P"),  # zero-padded day: not a Deribit name
        db_row("BTC-PERPETUAL"),
        db_row("ETH-28NOV25-3000-C"),
        db_row("BTC-28NOV25-90000-X"),
    ]
    table = SPEC_DB.parse(db_body(rows), NOV21, LATE)
    # Only the USDC-settled options are another dataset; every other name stays, for the quality rules to refuse.
    assert table.column("instrument_name").to_pylist() == [
        "BTC-05DEC25-90000-P", "BTC-28NOV25-90000-C", "BTC-28NOV25-90000-X", "BTC-5DEC25-90000-P",
        "BTC-PERPETUAL", "ETH-28NOV25-3000-C",
    ]
    assert table.column("creation_time").to_pylist()[0] == dt.datetime(2025, 11, 22, 0, 30)
    assert table.column("volume").to_pylist() == [12.3] * 6


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps({"jsonrpc": "2.0", "error": {"message": "too_many_requests", "code": 10028}, "usIn": 1,
                     "usOut": 2, "usDiff": 1, "testnet": False}).encode(),
         "error envelope: code 10028: too_many_requests"),
        (db_body([]), "empty result"),
        (db_body([db_row("BTC-PERPETUAL")]), "no BTC option rows"),
        (json.dumps({"jsonrpc": "2.0", "usIn": 1}).encode(), "missing field 'result'"),
        (db_body({"a": 1}), "result must be an array"),
        (b"[]", "expected a JSON-RPC object"),
        (db_body([{k: v for k, v in db_row().items() if k != "mark_iv"}]),
         "missing field 'mark_iv' in BTC-28NOV25-90000-C"),
        (db_body([{k: v for k, v in db_row().items() if k != "bid_price"}]), "missing field 'bid_price'"),
        (db_body([db_row(open_interest=None)]), "BTC-28NOV25-90000-C.open_interest is null"),
        (db_body([db_row(mark_iv="48.5")]), "mark_iv must be a JSON number"),
        (db_body([db_row(creation_timestamp=1.5)]), "creation_timestamp must be a JSON integer"),
        (db_body([db_row(), db_row()]), "appears twice"),
        (db_body([db_row(underlying_index="")]), "underlying_index must be a non-empty string"),
        (db_body(["BTC-28NOV25-90000-C"]), "result[0] is not an object"),
        # a row stamped outside the day's snapshot window (2025-11-21 and the night after) is a stale quote
        (db_body([db_row(), db_row("BTC-28NOV25-95000-C", creation_timestamp=1763164800000)]),
         "snapshot taken at 2025-11-15T00:00:00.000Z (BTC-28NOV25-95000-C.creation_timestamp): a snapshot of "
         "2025-11-21 must be taken between 2025-11-21T00:00:00.000Z and 2025-11-23T00:00:00.000Z"),
    ],
)
def test_deribit_errors(body, reason):
    message = parse_error(SPEC_DB, body, NOV21)
    assert reason in message, message


def test_deribit_rows_are_snapshots_taken_by_the_fetch():
    nightly = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)  # db_row's creation_timestamp
    assert SPEC_DB.parse(db_body(), NOV21, nightly).num_rows == 1
    late_on_the_day = dt.datetime(2025, 11, 21, 23, 0, tzinfo=UTC)
    assert "is after fetched_at 2025-11-21T23:00:00+00:00" in parse_error(SPEC_DB, db_body(), NOV21, late_on_the_day)


def test_every_parse_error_message_follows_one_pattern():
    # "<source>/<dataset> for <YYYY-MM-DD>: <reason>" - what the run log and the asset checks show.
    message = parse_error(SPEC_DB, db_body([]), NOV21)
    assert re.fullmatch(r"deribit/option_book_summary for 2025-11-21: .+", message)
