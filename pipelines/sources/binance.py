"""Binance spot: daily BTCUSDT klines from the keyless market-data host."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    MS_PER_DAY,
    Failer,
    daily_window_ms,
    day_start_ms,
    decimal_str_float,
    decode_json,
    epoch_ms,
    iso_ms,
    json_int,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "binance"
KLINES_URL = "https://data-api.binance.vision/api/v3/klines"
SYMBOL = "BTCUSDT"

SPOT_KLINES_1D_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("open_time", pa.timestamp("us")),
        ("close_time", pa.timestamp("us")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume_btc", pa.float64()),
        ("quote_volume_usdt", pa.float64()),
        ("trades", pa.int64()),
        ("taker_buy_base_btc", pa.float64()),
        ("taker_buy_quote_usdt", pa.float64()),
    ]
)

# Wire order of a kline array: [openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
# takerBuyBase, takerBuyQuote, ignore].
_KLINE_FIELDS = 12


# The API's cap (binance-spot-api-docs rest-api.md, GET /api/v3/klines): "limit INT NO Default: 500; Maximum:
# 1000"; a larger limit is refused with HTTP 400 {"code":-1130,"msg":"Data sent for parameter 'limit' is not
# valid."} (errors.md, -1130 INVALID_PARAMETER). A window holding more klines than `limit` is NOT refused: from
# startTime the API silently answers the first `limit` of them, and the days after would come back absent. So the
# window is counted as Binance counts it - every kline whose openTime lies in [startTime, endTime], both included
# (endTime is the last millisecond of the last day, so the next day's kline is not in it) - and kept within the
# limit sent, the maximum: 1000 days a request.
KLINES_MAX_LIMIT = 1000
KLINES_PER_REQUEST = KLINES_MAX_LIMIT  # one 1d kline per day of the range


def build_spot_klines_1d_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    start_ms, end_ms, opens = daily_window_ms(first, last)  # 1d openTimes in [startTime, endTime]
    if not 1 <= opens <= KLINES_MAX_LIMIT:
        raise ValueError(f"{SOURCE}/spot_klines_1d: {first} … {last} is {opens} daily klines; Binance serves 1 to "
                         f"{KLINES_MAX_LIMIT} per request")
    return FetchRequest(
        source=SOURCE,
        dataset="spot_klines_1d",
        day=first,
        last_day=last,
        url=KLINES_URL,
        params={
            "symbol": SYMBOL,
            "interval": "1d",
            "startTime": str(start_ms),
            "endTime": str(end_ms),
            "limit": str(KLINES_MAX_LIMIT),
        },
    )


def build_spot_klines_1d_request(day: dt.date) -> FetchRequest:
    return build_spot_klines_1d_range_request(day, day)


def parse_spot_klines_1d(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "spot_klines_1d", day)
    data = decode_json(body, fail)
    if isinstance(data, dict):
        if "code" in data and "msg" in data:
            fail.raise_(f"error envelope: code {data['code']}: {data['msg']}")
        fail.raise_(f"expected a JSON array of klines, got an object with keys {sorted(data)[:8]}")
    if not isinstance(data, list):
        fail.raise_(f"expected a JSON array of klines, got {type(data).__name__}")

    day_ms = day_start_ms(day)
    found: list | None = None
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != _KLINE_FIELDS:
            fail.raise_(f"kline #{i} is not an array of {_KLINE_FIELDS} fields: {str(row)[:80]}")
        open_ms = json_int(row[0], f"kline #{i} openTime", fail)
        if open_ms == day_ms:
            if found is not None:
                fail.raise_(f"two klines open at {iso_ms(day_ms)}")
            found = row
    if found is None:
        hint = ""
        if data and isinstance(data[0][0], int) and data[0][0] > 10**14:
            hint = " (openTime looks like microseconds, expected milliseconds)"
        fail.raise_(f"no kline opening at {iso_ms(day_ms)} (day absent) among {len(data)} rows{hint}")

    open_ms = found[0]
    close_ms = json_int(found[6], "closeTime", fail)
    if close_ms != open_ms + MS_PER_DAY - 1:
        fail.raise_(f"closeTime {iso_ms(close_ms)} is not the end of the day: not a 1d kline")
    fetched_ms = epoch_ms(fetched_at)
    if close_ms >= fetched_ms:
        fail.raise_(
            f"candle still open: closeTime {iso_ms(close_ms)} is not before fetched_at {iso_ms(fetched_ms)}"
        )
    o, h, lo, c = (
        decimal_str_float(found[k], name, fail) for k, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
    )
    volume = decimal_str_float(found[5], "volume", fail)
    quote_volume = decimal_str_float(found[7], "quoteVolume", fail)
    trades = json_int(found[8], "trades", fail)
    taker_base = decimal_str_float(found[9], "takerBuyBaseVolume", fail)
    taker_quote = decimal_str_float(found[10], "takerBuyQuoteVolume", fail)
    if min(o, h, lo, c) <= 0:
        fail.raise_(f"non-positive price in OHLC {o}/{h}/{lo}/{c}")
    if not (h >= max(o, c, lo) and lo <= min(o, c)):
        fail.raise_(f"inconsistent OHLC: open {o}, high {h}, low {lo}, close {c}")
    if min(volume, quote_volume, trades, taker_base, taker_quote) < 0:
        fail.raise_("negative volume or trade count")
    if taker_base > volume:
        fail.raise_(f"taker buy volume {taker_base} exceeds volume {volume}")

    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "open_time": [open_ms * 1000],
            "close_time": [close_ms * 1000],
            "open": [o],
            "high": [h],
            "low": [lo],
            "close": [c],
            "volume_btc": [volume],
            "quote_volume_usdt": [quote_volume],
            "trades": [trades],
            "taker_buy_base_btc": [taker_base],
            "taker_buy_quote_usdt": [taker_quote],
        },
        schema=SPOT_KLINES_1D_SCHEMA,
    )


SPOT_KLINES_1D = DatasetSpec(
    source=SOURCE,
    dataset="spot_klines_1d",
    description="Binance BTCUSDT spot daily kline (UTC day): OHLC in USDT, BTC and USDT volume, trades, taker buys.",
    raw_schema=SPOT_KLINES_1D_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_spot_klines_1d_request,
    parse=parse_spot_klines_1d,
    event_time_column="open_time",
    history="since 2017-08-17 (BTCUSDT listing)",
    available_from=dt.date(2017, 8, 17),
    build_range_request=ignoring_send_time(build_spot_klines_1d_range_request),
    max_range_days=KLINES_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (SPOT_KLINES_1D,)
