"""Bybit v5: daily open interest of the BTCUSDT linear perpetual (in BTC), back to the contract's launch.

Wire format (sources.md §2.6): {"retCode":0,"retMsg":"OK","result":{"symbol","category","list":[{"openInterest":
"…","timestamp":"<ms>"}],"nextPageCursor":"…"},"retExtInfo":{},"time":ms}; strings, list newest first; errors
come back as HTTP 200 with retCode != 0. Paged with `cursor` (the previous page's nextPageCursor).

What a 1d row's timestamp labels: open interest is a stock, sampled at an instant. The 1d series is stamped at
00:00 UTC, and the row stamped D 00:00 is the open interest at the START of day D (= at the end of D-1).
Partition D keeps that row: its event time lies inside D, and the open interest change during D is the next
partition's value minus this one's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

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
    need,
)
from pipelines.sources._open_interest import OPEN_INTEREST_DAY_SCHEMA as SHARED_DAY_SCHEMA
from pipelines.sources._open_interest import day_instants_once_over, day_row
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "bybit"
OPEN_INTEREST_URL = "https://api.bybit.com/v5/market/open-interest"
SYMBOL = "BTCUSDT"
CATEGORY = "linear"
# Bybit's USDT perpetuals went live on 2020-03-25 (announced by CoinDesk on 2020-03-24).
CONTRACT_LAUNCH = dt.date(2020, 3, 25)

OPEN_INTEREST_1D_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("timestamp", pa.timestamp("us")),  # 00:00 UTC of the day: open interest at the start of the day
        ("open_interest_btc", pa.float64()),  # linear contract: open interest in BTC
    ]
)


# The API's cap (bybit-exchange.github.io/docs/v5/market/open-interest): "limit integer false Limit for data size per
# page. [1, 200]. Default: 50" (the demo answers a larger one as Bybit answers a bad parameter: HTTP 200, retCode
# 10001 "params error"; whether the live API refuses or clamps it is not documented). A window
# holding more rows than `limit` is not refused but paged (nextPageCursor), and a range must be one page: the window
# is counted as Bybit counts it - every 1d row stamped in [startTime, endTime], both included (endTime is the last
# millisecond of the last day, so the next day's 00:00 row is not in it) - and kept within the limit sent, the
# maximum: 200 days a request.
ROWS_PER_PAGE = 200


def build_open_interest_1d_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    start_ms, end_ms, rows = daily_window_ms(first, last)  # 00:00 stamps in [startTime, endTime]
    if not 1 <= rows <= ROWS_PER_PAGE:
        raise ValueError(f"{SOURCE}/open_interest_1d: {first} … {last} is {rows} daily rows; one page holds 1 to "
                         f"{ROWS_PER_PAGE}")
    return FetchRequest(
        source=SOURCE,
        dataset="open_interest_1d",
        day=first,
        last_day=last,
        url=OPEN_INTEREST_URL,
        params={
            "category": CATEGORY,
            "symbol": SYMBOL,
            "intervalTime": "1d",
            "startTime": str(start_ms),
            "endTime": str(end_ms),
            "limit": str(ROWS_PER_PAGE),
        },
    )


def build_open_interest_1d_request(day: dt.date) -> FetchRequest:
    return build_open_interest_1d_range_request(day, day)


def _result(body: bytes, fail: Failer) -> dict:
    data = decode_json(body, fail)
    if not isinstance(data, dict):
        fail.raise_(f"expected a JSON object with retCode and result, got {type(data).__name__}")
    code = need(data, "retCode", fail, "the body")
    if isinstance(code, bool) or not isinstance(code, int):
        fail.raise_(f"retCode must be a JSON integer, got {code!r}")
    if code != 0:
        fail.raise_(f"error envelope: retCode {code}: {data.get('retMsg', '')}")
    result = need(data, "result", fail, "the body")
    if not isinstance(result, dict):
        fail.raise_(f"result must be an object, got {type(result).__name__}")
    rows = need(result, "list", fail, "result")
    if not isinstance(rows, list):
        fail.raise_(f"result.list must be an array, got {type(rows).__name__}")
    return result


def _timestamp_ms(value: Any, field: str, fail: Failer) -> int:
    """Bybit sends ms timestamps as strings ("1669571400000"); a JSON integer is accepted too."""
    if isinstance(value, str):
        if not value.isdigit():
            fail.raise_(f"field {field} is not an integer timestamp: {value!r}")
        value = int(value)
    ts = json_int(value, field, fail)
    if ts > 10**14:
        fail.raise_(f"field {field} {ts} looks like microseconds, expected milliseconds")
    return ts


def parse_open_interest_1d(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "open_interest_1d", day)
    result = _result(body, fail)
    for key, expected in (("symbol", SYMBOL), ("category", CATEGORY)):
        if key in result and result[key] != expected:
            fail.raise_(f"result.{key} is {result[key]!r}, expected {expected!r}")
    rows = result["list"]
    if not rows:
        fail.raise_(f"empty result.list: no open interest (the contract launched on {CONTRACT_LAUNCH})")
    day_ms = day_start_ms(day)
    found = None
    for i, item in enumerate(rows):
        where = f"list[{i}]"
        if not isinstance(item, dict):
            fail.raise_(f"{where} is not an object")
        ts = _timestamp_ms(need(item, "timestamp", fail, where), f"{where}.timestamp", fail)
        need(item, "openInterest", fail, where)
        if ts == day_ms:
            if found is not None:
                fail.raise_(f"two rows stamped {iso_ms(day_ms)}")
            found = item
        elif day_ms < ts < day_ms + MS_PER_DAY:
            fail.raise_(f"{where} stamped {iso_ms(ts)}, inside the day but not 00:00: not intervalTime=1d")
    if found is None:
        fail.raise_(f"no row stamped {iso_ms(day_ms)} (day absent) among {len(rows)} rows")
    if day_ms > epoch_ms(fetched_at):
        fail.raise_(f"row stamped {iso_ms(day_ms)} is after fetched_at {iso_ms(epoch_ms(fetched_at))}")
    oi = decimal_str_float(found["openInterest"], "openInterest", fail)
    if oi < 0:
        fail.raise_(f"negative openInterest {oi}")
    return pa.Table.from_pydict(
        {PARTITION_COLUMN: [day], "timestamp": [day_ms * 1000], "open_interest_btc": [oi]},
        schema=OPEN_INTEREST_1D_SCHEMA,
    )


def next_open_interest_page(request: FetchRequest, body: bytes) -> FetchRequest | None:
    """The same request with `cursor` = the page's nextPageCursor; None when the cursor is empty, the page is
    empty, or the page already reaches back to the window's start (the list is newest first)."""
    fail = Failer(SOURCE, request.dataset, request.day)
    result = _result(body, fail)
    cursor = result.get("nextPageCursor") or ""
    rows = result["list"]
    if not cursor or not rows:
        return None
    if not isinstance(cursor, str):
        fail.raise_(f"nextPageCursor must be a string, got {cursor!r}")
    stamps = [_timestamp_ms(r.get("timestamp") if isinstance(r, dict) else None, "timestamp", fail) for r in rows]
    start = request.params.get("startTime")
    if start is not None and min(stamps) <= int(start):
        return None
    if request.params.get("cursor") == cursor:
        fail.raise_(f"nextPageCursor {cursor!r} repeats the request's cursor: paging would not advance")
    return dataclasses.replace(request, params={**request.params, "cursor": cursor})


OPEN_INTEREST_1D = DatasetSpec(
    source=SOURCE,
    dataset="open_interest_1d",
    description="Bybit BTCUSDT linear perpetual open interest (BTC) at 00:00 UTC of the day (start of day).",
    raw_schema=OPEN_INTEREST_1D_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_open_interest_1d_request,
    parse=parse_open_interest_1d,
    event_time_column="timestamp",
    backfillable=True,
    history=f"since the contract's launch ({CONTRACT_LAUNCH.isoformat()})",
    available_from=CONTRACT_LAUNCH,
    next_page=next_open_interest_page,
    build_range_request=ignoring_send_time(build_open_interest_1d_range_request),
    max_range_days=ROWS_PER_PAGE,
)



# ---- the day's start and end in one partition ----------------------------------------------------------------
# open_interest_1d keeps one row per partition (the day's start), so a day's end-of-day value waits for the next
# partition and the newest day's change is unknown. open_interest_day asks, for day D, the 1d rows stamped D 00:00
# and D + 1 00:00 (endTime is that instant, inclusive) and keeps both: partition D alone gives the day's change once
# the day is over (the nightly run, 00:30 UTC of D + 1). Bybit serves open interest in BTC only (no USD value in
# the history): the marts value it at the day's consolidated prices.

# The shared day schema without its USD columns.
OPEN_INTEREST_DAY_SCHEMA = pa.schema([f for f in SHARED_DAY_SCHEMA if not f.name.endswith("_usd")])
# A range of N days is N + 1 rows (through the 00:00 after its last day): one page of 200 holds 199 days.
OPEN_INTEREST_DAY_MAX_DAYS = ROWS_PER_PAGE - 1


def build_open_interest_day_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    days = (last - first).days + 1
    if not 1 <= days <= OPEN_INTEREST_DAY_MAX_DAYS:
        raise ValueError(f"{SOURCE}/open_interest_day: {first} … {last} is {days} days ({days + 1} daily rows); one "
                         f"page holds {ROWS_PER_PAGE} rows")
    return FetchRequest(
        source=SOURCE,
        dataset="open_interest_day",
        day=first,
        last_day=last,
        url=OPEN_INTEREST_URL,
        params={
            "category": CATEGORY,
            "symbol": SYMBOL,
            "intervalTime": "1d",
            "startTime": str(day_start_ms(first)),
            "endTime": str(day_start_ms(last) + MS_PER_DAY),
            "limit": str(ROWS_PER_PAGE),
        },
    )


def build_open_interest_day_request(day: dt.date) -> FetchRequest:
    return build_open_interest_day_range_request(day, day)


def parse_open_interest_day(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "open_interest_day", day)
    start_ms, end_ms = day_instants_once_over(day, fetched_at, fail)
    result = _result(body, fail)
    for key, expected in (("symbol", SYMBOL), ("category", CATEGORY)):
        if key in result and result[key] != expected:
            fail.raise_(f"result.{key} is {result[key]!r}, expected {expected!r}")
    rows = result["list"]
    found: dict[int, float] = {}
    for i, item in enumerate(rows):
        where = f"list[{i}]"
        if not isinstance(item, dict):
            fail.raise_(f"{where} is not an object")
        ts = _timestamp_ms(need(item, "timestamp", fail, where), f"{where}.timestamp", fail)
        raw = need(item, "openInterest", fail, where)
        if ts in (start_ms, end_ms):
            if ts in found:
                fail.raise_(f"two rows stamped {iso_ms(ts)}")
            oi = decimal_str_float(raw, f"{where}.openInterest", fail)
            if oi < 0:
                fail.raise_(f"negative openInterest {oi}")
            found[ts] = oi
        elif start_ms < ts < end_ms + MS_PER_DAY:
            fail.raise_(f"{where} stamped {iso_ms(ts)}, inside the day but not 00:00: not intervalTime=1d")
    for ts, what in ((start_ms, "start"), (end_ms, "end")):
        if ts not in found:
            fail.raise_(f"no row stamped {iso_ms(ts)} (the day's {what}) among {len(rows)} rows"
                        + (f" (the contract launched on {CONTRACT_LAUNCH})" if not rows else ""))
    return day_row(day, start_ms, end_ms, (found[start_ms], found[end_ms]), schema=OPEN_INTEREST_DAY_SCHEMA)


OPEN_INTEREST_DAY = DatasetSpec(
    source=SOURCE,
    dataset="open_interest_day",
    description="Bybit BTCUSDT linear perpetual open interest (BTC) at the start and the end of the UTC day.",
    raw_schema=OPEN_INTEREST_DAY_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_open_interest_day_request,
    parse=parse_open_interest_day,
    event_time_column="start_time",
    backfillable=True,
    history=f"since the contract's launch ({CONTRACT_LAUNCH.isoformat()})",
    available_from=CONTRACT_LAUNCH,
    next_page=next_open_interest_page,
    build_range_request=ignoring_send_time(build_open_interest_day_range_request),
    max_range_days=OPEN_INTEREST_DAY_MAX_DAYS,
)

DATASETS: tuple[DatasetSpec, ...] = (OPEN_INTEREST_1D, OPEN_INTEREST_DAY)
