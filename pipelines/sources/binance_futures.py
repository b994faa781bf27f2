"""Binance USD-M futures (fapi.binance.com): BTCUSDT funding prints, long/short account and position ratios, taker
buy/sell volume and open interest (BTC and USD).

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
from pipelines.sources._open_interest import (
    OPEN_INTEREST_DAY_SCHEMA,
    day_instants_once_over,
    day_row,
    open_interest_values,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "binance"
FAPI = "https://fapi.binance.com"
FUNDING_RATE_URL = f"{FAPI}/fapi/v1/fundingRate"
TOP_TRADER_RATIO_URL = f"{FAPI}/futures/data/topLongShortAccountRatio"
GLOBAL_RATIO_URL = f"{FAPI}/futures/data/globalLongShortAccountRatio"
TOP_TRADER_POSITION_RATIO_URL = f"{FAPI}/futures/data/topLongShortPositionRatio"
TAKER_VOLUME_URL = f"{FAPI}/futures/data/takerlongshortRatio"
OPEN_INTEREST_HIST_URL = f"{FAPI}/futures/data/openInterestHist"
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


# The API's cap (developers.binance.com, USDⓈ-M futures "Get Funding Rate History"; sources.md §2.2): startTime
# and endTime inclusive, "limit Default 100; max 1000"; a larger limit is refused with HTTP 400 -1130 "Data sent for
# parameter 'limit' is not valid.". More prints than `limit` in the window are not refused but cut: from startTime
# "you get startTime + limit rows", the later days silently absent. The window is counted as the API counts it
# (every print with fundingTime in [startTime, endTime]) and kept within the maximum limit, which is sent.
FUNDING_ROWS_PER_REQUEST = 1000
FUNDING_PRINTS_PER_DAY = 3  # every 8 h for BTCUSDT (sources.md §2.2)
# 300 days are 900 prints: within the 1000-row limit with room for a day of extra prints (a changed schedule's).
FUNDING_DAYS_PER_REQUEST = 300
if FUNDING_DAYS_PER_REQUEST * FUNDING_PRINTS_PER_DAY > FUNDING_ROWS_PER_REQUEST:
    raise ValueError("funding_rate: a range's prints would exceed the API's 1000-row limit")


def build_funding_rate_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    days = (last - first).days + 1
    if not 1 <= days <= FUNDING_DAYS_PER_REQUEST:
        raise ValueError(f"{SOURCE}/funding_rate: {first} … {last} is {days} days ({days * FUNDING_PRINTS_PER_DAY} "
                         f"prints); one request holds {FUNDING_DAYS_PER_REQUEST} days within Binance's "
                         f"{FUNDING_ROWS_PER_REQUEST}-row limit")
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


# The API's caps (developers.binance.com, "Top Trader Long/Short Ratio (Accounts)" and "Long/Short Ratio"):
# "limit LONG NO default 30, max 500" (a larger one refused with -1130 "Data sent for parameter 'limit' is not
# valid.") and "Only the data of the latest 30 days is available": a startTime further back than that is refused
# with HTTP 400 {"msg":"parameter 'startTime' is invalid.","code":-1130} (measured by public probes: now - 30 d
# answered, now - 35 d refused, at every period). With period=1d a range of N days is N rows stamped 00:00, within
# the default limit of 30 that is sent.
RATIO_MAX_LIMIT = 500
RATIO_ROWS_LIMIT = 30
RATIO_HISTORY_DAYS = 30
# Counted back from the moment of the request: a range sent just after its last day has closed (the nightly run,
# 00:30 UTC) reaches back 28 days with a day and a half to spare.
RATIO_DAYS_PER_REQUEST = 28
# A range sent later reaching past the 30 days starts where the history starts, this much inside it so that a
# request sent (or retried) a little after it was built is still within the 30 days.
RATIO_START_MARGIN_MS = 3_600_000
if RATIO_DAYS_PER_REQUEST > min(RATIO_ROWS_LIMIT, RATIO_HISTORY_DAYS):
    raise ValueError("long/short ratios: a range must fit the rows limit and the 30 days served")


def _ratio_range_request(dataset: str, url: str, *, through_next_midnight: bool = False):
    """`through_next_midnight`: the window also holds the row stamped 00:00 of the day after `last` (its endTime is
    that instant, inclusive): the end-of-day value of `last` (open interest), one more row within the limit."""

    def build(first: dt.date, last: dt.date, at: dt.datetime | None = None) -> FetchRequest:
        days = (last - first).days + 1
        if not 1 <= days <= RATIO_DAYS_PER_REQUEST:
            raise ValueError(f"{SOURCE}/{dataset}: {first} … {last} is {days} days; one request holds "
                             f"{RATIO_DAYS_PER_REQUEST} (Binance serves the last {RATIO_HISTORY_DAYS} days)")
        window = _days_window_params(first, last)
        if through_next_midnight:
            window["endTime"] = str(day_start_ms(last) + MS_PER_DAY)
        if at is not None:
            oldest = epoch_ms(at) - RATIO_HISTORY_DAYS * MS_PER_DAY + RATIO_START_MARGIN_MS
            # Part of the range is older than the 30 days served: ask from where they start (the older days come
            # back absent, and say why). A range wholly older is sent as it is: the API's refusal names it.
            if int(window["startTime"]) < oldest <= int(window["endTime"]):
                window["startTime"] = str(oldest)
        params = {"symbol": SYMBOL, "period": "1d", **window, "limit": str(RATIO_ROWS_LIMIT)}
        return FetchRequest(source=SOURCE, dataset=dataset, day=first, last_day=last, url=url, params=params)

    return build


def _ratio_request(dataset: str, url: str, **kw):
    build_range = _ratio_range_request(dataset, url, **kw)
    return lambda day: build_range(day, day)


def _ratio_request_at(dataset: str, url: str, **kw):
    build_range = _ratio_range_request(dataset, url, **kw)
    return lambda day, at: build_range(day, day, at)


def _timestamp_ms(value: Any, field: str, fail: Failer) -> int:
    """Binance documents `timestamp` as a string; real bodies carry a number: accept both."""
    if isinstance(value, str):
        if not value.isdigit():
            fail.raise_(f"field {field} is not an integer timestamp: {value!r}")
        return int(value)
    return json_int(value, field, fail)


def _daily_rows(body: bytes, fail: Failer, day: dt.date, fetched_at: dt.datetime, stamps: tuple[int, ...],
                what: str) -> dict[int, tuple[int, dict]]:
    """The rows stamped exactly `stamps` (ms, 00:00 UTC of days, period=1d) of a futures/data body, as
    {stamp: (index, row)}; other days' rows are left out. Each stamp must be there once; a row stamped inside the
    days asked but not at 00:00 is another period's."""
    served_from = epoch_ms(fetched_at) - RATIO_HISTORY_DAYS * MS_PER_DAY
    hint = f"; Binance serves the {RATIO_HISTORY.split(':')[0]}"
    data = decode_json(body, fail)
    if isinstance(data, dict) and data.get("code") == -1130 and "startTime" in str(data.get("msg")):
        fail.raise_(f"error envelope: code -1130: {data['msg']}{hint}")
    data = _error_envelope(data, fail, what)
    found: dict[int, tuple[int, dict]] = {}
    lo, hi = min(stamps), max(stamps) + MS_PER_DAY
    for i, item in enumerate(data):
        where = f"row #{i}"
        if not isinstance(item, dict):
            fail.raise_(f"{where} is not an object: {str(item)[:80]}")
        ts = _timestamp_ms(need(item, "timestamp", fail, where), f"{where} timestamp", fail)
        if ts > 10**14:
            fail.raise_(f"{where} timestamp {ts} looks like microseconds, expected milliseconds")
        if ts not in stamps:
            if lo < ts < hi and ts % MS_PER_DAY:
                fail.raise_(f"{where} timestamp {iso_ms(ts)} is inside the day but not 00:00: not period=1d")
            continue
        if ts in found:
            fail.raise_(f"two rows stamped {iso_ms(ts)}")
        found[ts] = (i, item)
    for ts in stamps:
        if ts not in found:
            why = hint if not data or day_start_ms(day) < served_from else ""
            fail.raise_(f"no row stamped {iso_ms(ts)} (day absent) among {len(data)} rows{why}")
    return found


def _symbol(item: dict, fail: Failer, where: str) -> None:
    symbol = json_str(need(item, "symbol", fail, where), f"{where} symbol", fail)
    if symbol != SYMBOL:
        fail.raise_(f"{where} is for symbol {symbol!r}, expected {SYMBOL}")


def _ratio_parser(dataset: str):
    def parse(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
        """The row stamped 00:00 UTC of `day` (period=1d); rows of other days are left out."""
        fail = Failer(SOURCE, dataset, day)
        day_ms = day_start_ms(day)
        i, item = _daily_rows(body, fail, day, fetched_at, (day_ms,), "long/short ratio rows")[day_ms]
        where = f"row #{i}"
        _symbol(item, fail, where)
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
    build_request_at=_ratio_request_at("top_trader_long_short_ratio", TOP_TRADER_RATIO_URL),
    build_range_request=_ratio_range_request("top_trader_long_short_ratio", TOP_TRADER_RATIO_URL),
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
    build_request_at=_ratio_request_at("global_long_short_ratio", GLOBAL_RATIO_URL),
    build_range_request=_ratio_range_request("global_long_short_ratio", GLOBAL_RATIO_URL),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)

# The top traders' POSITION ratio (developers.binance.com, "Top Trader Long/Short Ratio (Positions)"): the same
# endpoint family, caps, 30 days and wire shape as the account ratios, but longAccount / shortAccount are the shares
# of the top traders' summed POSITIONS (by size) that are long and short, not the shares of their accounts. A
# whale's account counts once in the account ratio and by its size here: the two differ when the largest accounts
# lean the other way from the many smaller top accounts.
TOP_TRADER_POSITION_RATIO = DatasetSpec(
    source=SOURCE,
    dataset="top_trader_position_ratio",
    description="Binance BTCUSDT top traders' long/short POSITION ratio (shares of their positions' size) at 00:00 "
                "UTC (period 1d).",
    raw_schema=LONG_SHORT_RATIO_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=_ratio_request("top_trader_position_ratio", TOP_TRADER_POSITION_RATIO_URL),
    parse=_ratio_parser("top_trader_position_ratio"),
    event_time_column="timestamp",
    backfillable=True,
    history=RATIO_HISTORY,
    build_request_at=_ratio_request_at("top_trader_position_ratio", TOP_TRADER_POSITION_RATIO_URL),
    build_range_request=_ratio_range_request("top_trader_position_ratio", TOP_TRADER_POSITION_RATIO_URL),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)


# ---- taker buy/sell volume ----------------------------------------------------------------------------------

TAKER_VOLUME_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("timestamp", pa.timestamp("us")),  # 00:00 UTC of the day: the start of the 1d period the volumes cover
        ("buy_volume_btc", pa.float64()),  # taker buys (market orders lifting asks), BTC
        ("sell_volume_btc", pa.float64()),  # taker sells (market orders hitting bids, forced sells among them), BTC
        ("buy_sell_ratio", pa.float64()),  # buyVol / sellVol as Binance rounds it
    ]
)
# buySellRatio comes rounded to 4 decimals: it must match buyVol / sellVol to that (relative 1e-3 leaves room).
_TAKER_RATIO_TOLERANCE = 1e-3


def parse_taker_volume(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The row stamped 00:00 UTC of `day` (period=1d: the volumes traded during the day); the day must be over,
    since the row of a day still trading is partial."""
    fail = Failer(SOURCE, "taker_volume", day)
    day_ms = day_start_ms(day)
    if epoch_ms(fetched_at) < day_ms + MS_PER_DAY:
        fail.raise_(f"the day is not over: fetched_at {iso_ms(epoch_ms(fetched_at))} is before "
                    f"{iso_ms(day_ms + MS_PER_DAY)} (the day's volume would be partial)")
    i, item = _daily_rows(body, fail, day, fetched_at, (day_ms,), "taker volume rows")[day_ms]
    where = f"row #{i}"
    buy, sell, ratio = (
        decimal_str_float(need(item, key, fail, where), f"{where} {key}", fail)
        for key in ("buyVol", "sellVol", "buySellRatio")
    )
    if buy < 0 or sell < 0 or ratio < 0:
        fail.raise_(f"negative volume: buyVol {buy}, sellVol {sell}, buySellRatio {ratio}")
    if sell > 0 and abs(ratio - buy / sell) > _TAKER_RATIO_TOLERANCE * max(1.0, buy / sell):
        fail.raise_(f"buySellRatio {ratio} is not buyVol / sellVol ({buy} / {sell})")
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "timestamp": [day_ms * 1000],
            "buy_volume_btc": [buy],
            "sell_volume_btc": [sell],
            "buy_sell_ratio": [ratio],
        },
        schema=TAKER_VOLUME_SCHEMA,
    )


# "Taker Buy/Sell Volume" (developers.binance.com): symbol, period (5m … 1d), limit (default 30, max 500),
# startTime, endTime; "Only the data of the latest 30 days is available". The answer has no symbol field:
# [{"buySellRatio","buyVol","sellVol","timestamp"}], volumes in the base asset (BTC) as strings.
TAKER_VOLUME = DatasetSpec(
    source=SOURCE,
    dataset="taker_volume",
    description="Binance BTCUSDT perpetual taker buy and sell volume of the UTC day (BTC) and their ratio "
                "(period 1d).",
    raw_schema=TAKER_VOLUME_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=_ratio_request("taker_volume", TAKER_VOLUME_URL),
    parse=parse_taker_volume,
    event_time_column="timestamp",
    backfillable=True,
    history=RATIO_HISTORY,
    build_request_at=_ratio_request_at("taker_volume", TAKER_VOLUME_URL),
    build_range_request=_ratio_range_request("taker_volume", TAKER_VOLUME_URL),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)


# ---- open interest: the day's start and end, BTC and USD -----------------------------------------------------

def parse_open_interest_day(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The rows stamped 00:00 of `day` (its start) and of the day after (its end): both from this one body, so a
    day's change is known from its own partition once the day is over."""
    fail = Failer(SOURCE, "open_interest_day", day)
    start_ms, end_ms = day_instants_once_over(day, fetched_at, fail)
    rows = _daily_rows(body, fail, day, fetched_at, (start_ms, end_ms), "open interest rows")
    values = []
    for ts in (start_ms, end_ms):
        i, item = rows[ts]
        where = f"row #{i}"
        _symbol(item, fail, where)
        values.append(open_interest_values(need(item, "sumOpenInterest", fail, where),
                                           need(item, "sumOpenInterestValue", fail, where), fail, where,
                                           "sumOpenInterest", "sumOpenInterestValue"))
    (start_btc, start_usd), (end_btc, end_usd) = values
    return day_row(day, start_ms, end_ms, (start_btc, end_btc), (start_usd, end_usd))


# "Open Interest Statistics" (sources.md §2.2): period 1d rows stamped 00:00 UTC, sumOpenInterest (BTC) and
# sumOpenInterestValue (USD) as strings, the latest 30 days only, limit default 30, max 500. A range of N days asks
# N + 1 rows (through the 00:00 after its last day), within the default limit that is sent: 28 days.
OPEN_INTEREST_DAY = DatasetSpec(
    source=SOURCE,
    dataset="open_interest_day",
    description="Binance BTCUSDT perpetual open interest (BTC and USD) at the start and the end of the UTC day.",
    raw_schema=OPEN_INTEREST_DAY_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=_ratio_request("open_interest_day", OPEN_INTEREST_HIST_URL, through_next_midnight=True),
    parse=parse_open_interest_day,
    event_time_column="start_time",
    backfillable=True,
    history=RATIO_HISTORY,
    build_request_at=_ratio_request_at("open_interest_day", OPEN_INTEREST_HIST_URL, through_next_midnight=True),
    build_range_request=_ratio_range_request("open_interest_day", OPEN_INTEREST_HIST_URL,
                                             through_next_midnight=True),
    max_range_days=RATIO_DAYS_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (
    FUNDING_RATE, TOP_TRADER_LONG_SHORT_RATIO, GLOBAL_LONG_SHORT_RATIO, TOP_TRADER_POSITION_RATIO, TAKER_VOLUME,
    OPEN_INTEREST_DAY,
)
