"""Binance USD-M futures (fapi.binance.com): BTCUSDT funding prints and long/short account ratios.

Wire formats: ../shared/docs/sources.md §2.2 and the recorded body binance/funding_rate_BTCUSDT.json.
Binance answers JSON arrays in ascending order, numbers as strings, times in ms; errors are
{"code": <negative int>, "msg": "..."}. fapi.binance.com refuses US IPs with HTTP 451 (sources.md §2.1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    MS_PER_DAY,
    Failer,
    day_start_ms,
    decimal_str_float,
    decode_json,
    epoch_ms,
    iso_ms,
    json_int,
    json_str,
    need,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "binance"
FAPI = "https://fapi.binance.com"
FUNDING_RATE_URL = f"{FAPI}/fapi/v1/fundingRate"
TOP_TRADER_RATIO_URL = f"{FAPI}/futures/data/topLongShortAccountRatio"
GLOBAL_RATIO_URL = f"{FAPI}/futures/data/globalLongShortAccountRatio"
SYMBOL = "BTCUSDT"
MS_PER_HOUR = 3_600_000
# fundingTime carries a few ms of jitter after the hour (…001 to …016 in the recording): floored to the hour.
# A print further than a minute from an hour is not jitter but a different schedule, and is refused.
MAX_FUNDING_JITTER_MS = 60_000
# Before 2023-10-31 the API leaves markPrice empty (the recorded CSV shows 0.0): stored as null, never 0.
MARK_PRICE_SINCE = dt.date(2023, 10, 31)


def _error_envelope(data: Any, fail: Failer, expected: str) -> list:
    if isinstance(data, dict):
        if "code" in data and "msg" in data:
            fail.raise_(f"error envelope: code {data['code']}: {data['msg']}")
        fail.raise_(f"expected a JSON array of {expected}, got an object with keys {sorted(data)[:8]}")
    if not isinstance(data, list):
        fail.raise_(f"expected a JSON array of {expected}, got {type(data).__name__}")
    return data


def _days_window_params(first: dt.date, last: dt.date) -> dict[str, str]:
    # endTime is inclusive: the last millisecond of `last`.
    return {"startTime": str(day_start_ms(first)), "endTime": str(day_start_ms(last) + MS_PER_DAY - 1)}


# ---- funding rate ---------------------------------------------------------------------------------------

FUNDING_RATE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("funding_time", pa.timestamp("us")),  # fundingTime floored to the hour
        ("funding_time_ms", pa.int64()),  # fundingTime as sent (with its ms jitter)
        ("symbol", pa.string()),
        ("funding_rate", pa.float64()),  # per funding interval (8 h for BTCUSDT), e.g. 0.0001 = 0.01%
        ("mark_price", pa.float64()),  # null where the API sends "" or 0 (before 2023-10-31)
    ]
)


FUNDING_ROWS_PER_REQUEST = 1000
# Three prints a day (every 8 h) within the 1000-row limit, with room for a changed schedule's extra prints.
FUNDING_DAYS_PER_REQUEST = 300


def build_funding_rate_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    return FetchRequest(
        source=SOURCE,
        dataset="funding_rate",
        day=first,
        last_day=last,
        url=FUNDING_RATE_URL,
        params={"symbol": SYMBOL, **_days_window_params(first, last), "limit": str(FUNDING_ROWS_PER_REQUEST)},
    )


def build_funding_rate_request(day: dt.date) -> FetchRequest:
    return build_funding_rate_range_request(day, day)


def parse_funding_rate(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The day's funding prints (3 for BTCUSDT's 8-hour schedule); neighbours' prints are left out."""
    fail = Failer(SOURCE, "funding_rate", day)
    data = _error_envelope(decode_json(body, fail), fail, "funding prints")
    start, end = day_start_ms(day), day_start_ms(day) + MS_PER_DAY
    fetched_ms = epoch_ms(fetched_at)
    if fetched_ms < end:
        fail.raise_(f"the day is not over: fetched_at {iso_ms(fetched_ms)} is before {iso_ms(end)}")

    rows: dict[int, dict] = {}
    for i, item in enumerate(data):
        where = f"print #{i}"
        if not isinstance(item, dict):
            fail.raise_(f"{where} is not an object: {str(item)[:80]}")
        raw_ms = json_int(need(item, "fundingTime", fail, where), f"{where} fundingTime", fail)
        if raw_ms > 10**14:
            fail.raise_(f"{where} fundingTime {raw_ms} looks like microseconds, expected milliseconds")
        hour_ms = raw_ms - raw_ms % MS_PER_HOUR
        if raw_ms - hour_ms >= MAX_FUNDING_JITTER_MS:
            fail.raise_(f"{where} fundingTime {iso_ms(raw_ms)} is not within a minute after an hour")
        symbol = json_str(need(item, "symbol", fail, where), f"{where} symbol", fail)
        if symbol != SYMBOL:
            fail.raise_(f"{where} is for symbol {symbol!r}, expected {SYMBOL}")
        rate = decimal_str_float(need(item, "fundingRate", fail, where), f"{where} fundingRate", fail)
        if abs(rate) >= 1:
            fail.raise_(f"{where} fundingRate {rate} is not a per-interval rate (|rate| >= 100%)")
        mark = need(item, "markPrice", fail, where)
        mark_price = None if mark == "" else decimal_str_float(mark, f"{where} markPrice", fail)
        if mark_price is not None and mark_price < 0:
            fail.raise_(f"{where} negative markPrice {mark_price}")
        if mark_price == 0:
            mark_price = None
        if not start <= hour_ms < end:
            continue  # a neighbouring day's print
        if raw_ms > fetched_ms:
            fail.raise_(f"{where} fundingTime {iso_ms(raw_ms)} is after fetched_at {iso_ms(fetched_ms)}")
        if hour_ms in rows:
            fail.raise_(f"two funding prints at {iso_ms(hour_ms)}")
        rows[hour_ms] = {"ms": raw_ms, "symbol": symbol, "rate": rate, "mark": mark_price}
    if not rows:
        fail.raise_(f"no funding print in the day among {len(data)} rows (day absent)")

    hours = sorted(rows)
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day] * len(hours),
            "funding_time": [h * 1000 for h in hours],
            "funding_time_ms": [rows[h]["ms"] for h in hours],
            "symbol": [rows[h]["symbol"] for h in hours],
            "funding_rate": [rows[h]["rate"] for h in hours],
            "mark_price": [rows[h]["mark"] for h in hours],
        },
        schema=FUNDING_RATE_SCHEMA,
    )


FUNDING_RATE = DatasetSpec(
    source=SOURCE,
    dataset="funding_rate",
    description="Binance BTCUSDT perpetual funding prints of the day (every 8 h): rate per interval, mark price.",
    raw_schema=FUNDING_RATE_SCHEMA,
    key_columns=(PARTITION_COLUMN, "funding_time"),
    build_request=build_funding_rate_request,
    parse=parse_funding_rate,
    event_time_column="funding_time",
    backfillable=True,
    history="since 2019-09-10",
    available_from=dt.date(2019, 9, 10),
    build_range_request=ignoring_send_time(build_funding_rate_range_request),
    max_range_days=FUNDING_DAYS_PER_REQUEST,
)


# ---- long/short account ratios ----------------------------------------------------------------------------

LONG_SHORT_RATIO_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("timestamp", pa.timestamp("us")),  # 00:00 UTC of the day: the accounts' positions at that instant
        ("long_short_ratio", pa.float64()),  # long accounts / short accounts
        ("long_account", pa.float64()),  # share of accounts net long (0..1)
        ("short_account", pa.float64()),
    ]
)
# Binance rounds each figure to 4 decimals: long + short = 1 and ratio = long / short only up to that.
_SHARE_TOLERANCE = 0.002
# The 30-day limit, said in every error and in the specs' history (sources.md §2.2: futures/data endpoints).
RATIO_HISTORY = "last 30 days only: archive nightly (older days are not served)"


# Only the last 30 days are served, counted back from the moment of the request: a range sent just after its
# last day has closed reaches back 28 days with half an hour to spare. (30 rows is also the default limit.)
RATIO_DAYS_PER_REQUEST = 28


def _ratio_range_request(dataset: str, url: str):
    def build(first: dt.date, last: dt.date) -> FetchRequest:
        params = {"symbol": SYMBOL, "period": "1d", **_days_window_params(first, last), "limit": "30"}
        return FetchRequest(source=SOURCE, dataset=dataset, day=first, last_day=last, url=url, params=params)

    return build


def _ratio_request(dataset: str, url: str):
    build_range = _ratio_range_request(dataset, url)
    return lambda day: build_range(day, day)


def _timestamp_ms(value: Any, field: str, fail: Failer) -> int:
    """Binance documents `timestamp` as a string; real bodies carry a number: accept both."""
    if isinstance(value, str):
        if not value.isdigit():
            fail.raise_(f"field {field} is not an integer timestamp: {value!r}")
        return int(value)
    return json_int(value, field, fail)


def _ratio_parser(dataset: str):
    def parse(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
        """The row stamped 00:00 UTC of `day` (period=1d); rows of other days are left out."""
        fail = Failer(SOURCE, dataset, day)
        data = _error_envelope(decode_json(body, fail), fail, "long/short ratio rows")
        day_ms = day_start_ms(day)
        found = None
        for i, item in enumerate(data):
            where = f"row #{i}"
            if not isinstance(item, dict):
                fail.raise_(f"{where} is not an object: {str(item)[:80]}")
            ts = _timestamp_ms(need(item, "timestamp", fail, where), f"{where} timestamp", fail)
            if ts > 10**14:
                fail.raise_(f"{where} timestamp {ts} looks like microseconds, expected milliseconds")
            if ts != day_ms:
                if day_ms < ts < day_ms + MS_PER_DAY:
                    fail.raise_(f"{where} timestamp {iso_ms(ts)} is inside the day but not 00:00: not period=1d")
                continue
            if found is not None:
                fail.raise_(f"two rows stamped {iso_ms(day_ms)}")
            found = (i, item)
        if found is None:
            hint = f"; Binance serves the {RATIO_HISTORY.split(':')[0]}" if not data else ""
            fail.raise_(f"no row stamped {iso_ms(day_ms)} (day absent) among {len(data)} rows{hint}")
        i, item = found
        where = f"row #{i}"
        symbol = json_str(need(item, "symbol", fail, where), f"{where} symbol", fail)
        if symbol != SYMBOL:
            fail.raise_(f"{where} is for symbol {symbol!r}, expected {SYMBOL}")
        if day_ms > epoch_ms(fetched_at):
            fail.raise_(f"row stamped {iso_ms(day_ms)} is after fetched_at {iso_ms(epoch_ms(fetched_at))}")
        ratio, long_acc, short_acc = (
            decimal_str_float(need(item, key, fail, where), f"{where} {key}", fail)
            for key in ("longShortRatio", "longAccount", "shortAccount")
        )
        if not (0 <= long_acc <= 1 and 0 <= short_acc <= 1) or ratio < 0:
            fail.raise_(f"out-of-range shares: longAccount {long_acc}, shortAccount {short_acc}, ratio {ratio}")
        if abs(long_acc + short_acc - 1) > _SHARE_TOLERANCE:
            fail.raise_(f"longAccount {long_acc} + shortAccount {short_acc} is not 1")
        if short_acc > 0 and abs(ratio * short_acc - long_acc) > _SHARE_TOLERANCE:
            fail.raise_(f"longShortRatio {ratio} is not longAccount / shortAccount ({long_acc} / {short_acc})")
        return pa.Table.from_pydict(
            {
                PARTITION_COLUMN: [day],
                "timestamp": [day_ms * 1000],
                "long_short_ratio": [ratio],
                "long_account": [long_acc],
                "short_account": [short_acc],
            },
            schema=LONG_SHORT_RATIO_SCHEMA,
        )

    return parse


# Backfillable, though only 30 days deep: a missed night can still be fetched within the month, which a
# now-only spec (backfillable=False) would refuse outright; older days fail with a ParseError that says
# Binance no longer serves them, and only the nightly archive keeps them.
TOP_TRADER_LONG_SHORT_RATIO = DatasetSpec(
    source=SOURCE,
    dataset="top_trader_long_short_ratio",
    description="Binance BTCUSDT top traders' long/short account ratio at 00:00 UTC (period 1d).",
    raw_schema=LONG_SHORT_RATIO_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=_ratio_request("top_trader_long_short_ratio", TOP_TRADER_RATIO_URL),
    parse=_ratio_parser("top_trader_long_short_ratio"),
    event_time_column="timestamp",
    backfillable=True,
    history=RATIO_HISTORY,
    build_range_request=ignoring_send_time(_ratio_range_request("top_trader_long_short_ratio", TOP_TRADER_RATIO_URL)),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)

GLOBAL_LONG_SHORT_RATIO = DatasetSpec(
    source=SOURCE,
    dataset="global_long_short_ratio",
    description="Binance BTCUSDT all accounts' long/short account ratio at 00:00 UTC (period 1d).",
    raw_schema=LONG_SHORT_RATIO_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=_ratio_request("global_long_short_ratio", GLOBAL_RATIO_URL),
    parse=_ratio_parser("global_long_short_ratio"),
    event_time_column="timestamp",
    backfillable=True,
    history=RATIO_HISTORY,
    build_range_request=ignoring_send_time(_ratio_range_request("global_long_short_ratio", GLOBAL_RATIO_URL)),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (FUNDING_RATE, TOP_TRADER_LONG_SHORT_RATIO, GLOBAL_LONG_SHORT_RATIO)
