"""Coinbase Exchange: daily BTC-USD candles (bare arrays [time, low, high, open, close, volume], newest first)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import Failer, day_start_ms, decode_json, epoch_ms, iso_ms, json_float, json_int
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "coinbase"
CANDLES_URL = "https://api.exchange.coinbase.com/products/BTC-USD/candles"
DAY_SECONDS = 86_400

SPOT_CANDLES_1D_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("bucket_start", pa.timestamp("us")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume_btc", pa.float64()),
    ]
)


# The API's cap (docs.cdp.coinbase.com, Exchange REST API, "Get product candles"): "The maximum number of data
# points for a single request is 300 candles. If your selection of start/end time and granularity results in more
# than 300 data points, your request is rejected" - with HTTP 400 {"message":"granularity too small for the
# requested time range. Count of aggregations requested exceeds 300"} (the wording reported in
# bennycode/coinbase-pro-node#58). Coinbase counts the buckets from start's to end's with BOTH ends included: a
# bucket opening exactly at `end` is served and counted (ccxt's coinbaseexchange asks
# end = start + (limit - 1) * granularity for `limit` candles). So start = first 00:00 and end = the next day's
# 00:00 would be N + 1 buckets - 301 for 300 days, refused - and the range ends instead at the last second of its
# last day: N buckets however the server rounds `end` (floor: the last day's bucket; or (end - start) /
# granularity rounded up: N), and the last day is inside the window either way.
MAX_CANDLES = 300
CANDLES_PER_REQUEST = MAX_CANDLES  # one daily candle per day of the range


def candles_asked(start_s: int, end_s: int, granularity: int = DAY_SECONDS) -> int:
    """How many buckets Coinbase counts for [start, end]: from start's bucket to end's, both included."""
    return end_s // granularity - start_s // granularity + 1


def build_spot_candles_1d_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC)
    asked = candles_asked(int(start.timestamp()), int(end.timestamp()))
    if not 1 <= asked <= MAX_CANDLES:
        raise ValueError(f"{SOURCE}/spot_candles_1d: {first} … {last} is {asked} daily buckets; Coinbase serves "
                         f"1 to {MAX_CANDLES} per request")
    return FetchRequest(
        source=SOURCE,
        dataset="spot_candles_1d",
        day=first,
        last_day=last,
        url=CANDLES_URL,
        params={
            "granularity": str(DAY_SECONDS),
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )


def build_spot_candles_1d_request(day: dt.date) -> FetchRequest:
    return build_spot_candles_1d_range_request(day, day)


def parse_spot_candles_1d(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "spot_candles_1d", day)
    data = decode_json(body, fail)
    if isinstance(data, dict):
        if "message" in data:
            fail.raise_(f"error envelope: {data['message']}")
        fail.raise_(f"expected a JSON array of candles, got an object with keys {sorted(data)[:8]}")
    if not isinstance(data, list):
        fail.raise_(f"expected a JSON array of candles, got {type(data).__name__}")

    day_s = day_start_ms(day) // 1000
    found: list | None = None
    for i, row in enumerate(data):  # the window may include neighbouring candles: keep only the day's
        if not isinstance(row, list) or len(row) != 6:
            fail.raise_(
                f"candle #{i} is not an array of 6 fields [time, low, high, open, close, volume]: {str(row)[:80]}"
            )
        start_s = json_int(row[0], f"candle #{i} time", fail)
        if start_s == day_s:
            if found is not None:
                fail.raise_(f"two candles start at {iso_ms(day_s * 1000)}")
            found = row
    if found is None:
        hint = " (time looks like milliseconds, expected seconds)" if data and data[0][0] > 10**11 else ""
        fail.raise_(f"no candle starting at {iso_ms(day_s * 1000)} (day absent) among {len(data)} rows{hint}")

    bucket_end_ms = (day_s + DAY_SECONDS) * 1000
    fetched_ms = epoch_ms(fetched_at)
    if bucket_end_ms > fetched_ms:
        fail.raise_(
            f"candle still open: the day ends {iso_ms(bucket_end_ms)}, after fetched_at {iso_ms(fetched_ms)}"
        )
    wire_order = ((1, "low"), (2, "high"), (3, "open"), (4, "close"), (5, "volume"))
    lo, h, o, c, volume = (json_float(found[k], name, fail) for k, name in wire_order)
    if min(o, h, lo, c) <= 0:
        fail.raise_(f"non-positive price in OHLC {o}/{h}/{lo}/{c}")
    if not (h >= max(o, c, lo) and lo <= min(o, c)):
        fail.raise_(
            f"inconsistent OHLC: open {o}, high {h}, low {lo}, close {c} (wire order is low, high, open, close)"
        )
    if volume < 0:
        fail.raise_(f"negative volume {volume}")

    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "bucket_start": [day_s * 1_000_000],
            "open": [o],
            "high": [h],
            "low": [lo],
            "close": [c],
            "volume_btc": [volume],
        },
        schema=SPOT_CANDLES_1D_SCHEMA,
    )


SPOT_CANDLES_1D = DatasetSpec(
    source=SOURCE,
    dataset="spot_candles_1d",
    description="Coinbase Exchange BTC-USD daily candle (UTC day): OHLC in USD and BTC volume.",
    raw_schema=SPOT_CANDLES_1D_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_spot_candles_1d_request,
    parse=parse_spot_candles_1d,
    event_time_column="bucket_start",
    history="since 2015 (BTC-USD)",
    build_range_request=ignoring_send_time(build_spot_candles_1d_range_request),
    max_range_days=CANDLES_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (SPOT_CANDLES_1D,)
