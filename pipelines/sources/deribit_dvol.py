"""Deribit's volatility index (DVOL) of BTC and of ETH: daily candles, history served, so it backfills.

DVOL is Deribit's 30-day implied volatility index, in percent (55.3 means 55.3 %), computed from each currency's
option smile. One endpoint serves both currencies, in the same shape: two datasets on one parser, `btc_dvol` and
`eth_dvol`.

The wire format, from what was found (searched, not guessed):
- Request (docs.deribit.com, API reference `public/get_volatility_index_data`, OpenAPI 2.1.1): `currency` (BTC,
  ETH, USDC, USDT, EURR), `start_timestamp` and `end_timestamp` ("the earliest / the most recent timestamp to
  return result from", ms since the epoch; both required) and `resolution` in {1, 60, 3600, 43200, 1D} (the page
  calls it `vix_resolution` in its prose; the parameter sent is `resolution`, as every client found sends it).
- Answer: the JSON-RPC envelope around `result = {"data": [[timestamp ms, open, high, low, close], ...],
  "continuation": ms | null}`; `continuation` is "to be used as the end_timestamp parameter on the next request.
  NULL when no continuation" (the same page; rosssaunders/pg_deribit's generated types say the same). The page's
  example lists its candles oldest first; the parser does not rely on the order.
- Row limit: not documented. Two public DVOL loaders measured it: 1,000 candles a response, paged from the newest
  back with `continuation` ("DERIBIT_DVOL_LIMIT = 1000  # from testing" in one; "API возвращает max 1000 записей от
  новых к старым, поле continuation для следующей страницы" in the other's design notes, 2026-02-12).
- A candle is stamped with its start: a 1D candle of day D carries D 00:00 UTC (a public DVOL study checked native
  daily candles against 24 completed hourly ones; Amberdata's DVOL example is stamped 2024-05-01T00:00:00Z).
- History: Deribit announced DVOL on 2021-03-31 (its blog, CoinDesk the same day); the API serves the index from
  2021-03-24, for BTC and ETH alike (that study: "API first 2021-03-24", before the announcement; the loader above
  counted 42,874 hourly candles for BTC and for ETH from 2021-03-24 to 2026-02-12). Hence `available_from`.

Decisions. `resolution=1D`: one candle per partition day whose open/high/low/close are the index over that UTC day,
the mart's grain (hourly candles would be 24 rows a day re-aggregated into the same four numbers). A range asks at
most `DAYS_PER_REQUEST` = 500 daily candles, half the measured limit: the limit is not documented, and a range
answered with a continuation (a lower limit than measured) fails loudly, "the answer needs more than one page"
(pipelines/ingest/body_source.py), instead of losing days. A day's own request pages with `continuation`
(`next_dvol_page`), which one daily candle never needs.

The body does not name the currency or the window asked: the parser reads them from the page's request params
(`parse_takes_params`), so a candle outside the window asked (another day in a one-day ask) is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    MS_PER_DAY,
    Failer,
    daily_window_ms,
    day_start_ms,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
)
from pipelines.sources.deribit import SOURCE, rpc_result
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

VOLATILITY_INDEX_URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"
CURRENCIES = ("BTC", "ETH")
RESOLUTION = "1D"
# The measured cap of one answer (see the module note; not documented) and the days one range asks for within it.
ROWS_PER_PAGE = 1000
DAYS_PER_REQUEST = 500
# The first day the API serves DVOL, for BTC and ETH alike (module note).
DVOL_SINCE = dt.date(2021, 3, 24)

DVOL_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("currency", pa.string()),
        ("candle_time", pa.timestamp("us")),  # the candle's start: 00:00 UTC of the day (resolution 1D)
        ("open", pa.float64()),  # percent, as served
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
    ]
)
_CANDLE = "[timestamp, open, high, low, close]"


def dvol_dataset(currency: str) -> str:
    return f"{currency.lower()}_dvol"


def build_dvol_range_request(first: dt.date, last: dt.date, currency: str = "BTC") -> FetchRequest:
    """The daily candles of first … last: stamped at each day's 00:00, inside [first 00:00, last 23:59:59.999]."""
    dataset = dvol_dataset(currency)
    start_ms, end_ms, candles = daily_window_ms(first, last)  # 00:00 stamps in [start, end]
    if not 1 <= candles <= DAYS_PER_REQUEST:
        raise ValueError(f"{SOURCE}/{dataset}: {first} … {last} is {candles} daily candles; one request asks 1 to "
                         f"{DAYS_PER_REQUEST} (Deribit answers at most {ROWS_PER_PAGE} a page)")
    return FetchRequest(
        source=SOURCE,
        dataset=dataset,
        day=first,
        last_day=last,
        url=VOLATILITY_INDEX_URL,
        params={
            "currency": currency,
            "start_timestamp": str(start_ms),
            "end_timestamp": str(end_ms),
            "resolution": RESOLUTION,
        },
    )


def build_dvol_request(day: dt.date, currency: str = "BTC") -> FetchRequest:
    return build_dvol_range_request(day, day, currency)


def _page(body: bytes, fail: Failer) -> tuple[list, int | None]:
    """The page's candles (not yet read) and its continuation, or a ParseError."""
    result, _ = rpc_result(body, fail)
    if not isinstance(result, dict):
        fail.raise_(f"result must be an object {{data, continuation}}, got {type(result).__name__}")
    if "data" not in result:
        fail.raise_(f"missing field 'data' in result (keys: {sorted(result)[:8]})")
    candles = result["data"]
    if not isinstance(candles, list):
        fail.raise_(f"result.data must be an array of candles {_CANDLE}, got {type(candles).__name__}")
    continuation = result.get("continuation")  # null (or absent) when the window is answered whole
    if continuation is not None:
        continuation = json_int(continuation, "result.continuation", fail)
    return candles, continuation


def _stamp(row: object, i: int, fail: Failer) -> int:
    if not isinstance(row, list) or len(row) != 5:
        fail.raise_(f"data[{i}] is not an array of 5 values {_CANDLE}: {str(row)[:80]}")
    ms = json_int(row[0], f"data[{i}] timestamp", fail)
    if ms > 10**14:
        fail.raise_(f"data[{i}] timestamp {ms} looks like microseconds, expected milliseconds")
    return ms


def _window(params: Mapping[str, str] | None, fail: Failer) -> tuple[int, int]:
    """[start_timestamp, end_timestamp] of the page's request (both included)."""
    params = params or {}
    bounds = []
    for name in ("start_timestamp", "end_timestamp"):
        raw = params.get(name, "")
        if not raw.isdigit():
            fail.raise_(f"the page's request has no {name} (got {raw[:30]!r}): its candles cannot be checked "
                        "against the window asked")
        bounds.append(int(raw))
    return bounds[0], bounds[1]


def parse_dvol(body: bytes, day: dt.date, fetched_at: dt.datetime, params: Mapping[str, str] | None = None,
               currency: str = "BTC") -> pa.Table:
    """The day's 1D candle (stamped the day's 00:00 UTC) from one page; every candle of the page must lie in the
    window the page asked for and be a daily one."""
    fail = Failer(SOURCE, dvol_dataset(currency), day)
    candles, _ = _page(body, fail)
    asked = (params or {}).get("currency")
    if asked != currency:
        fail.raise_(f"the page's request asked currency={asked!r}, not {currency}")
    start, end = _window(params, fail)
    day_ms = day_start_ms(day)
    if not start <= day_ms <= end:
        fail.raise_(f"the window asked ({iso_ms(start)} … {iso_ms(end)}) does not hold the day")
    stamps = [_stamp(row, i, fail) for i, row in enumerate(candles)]
    for i, ms in enumerate(stamps):
        if not start <= ms <= end:
            fail.raise_(f"data[{i}] stamped {iso_ms(ms)} is outside the window asked ({iso_ms(start)} … "
                        f"{iso_ms(end)}): not the answer to this request")
        if ms % MS_PER_DAY:
            fail.raise_(f"data[{i}] stamped {iso_ms(ms)}, not a day's 00:00: not resolution={RESOLUTION}")
    days = [row for ms, row in zip(stamps, candles) if ms == day_ms]
    if len(days) > 1:
        fail.raise_(f"{len(days)} candles stamped {iso_ms(day_ms)}")
    if not days:
        before = f" (Deribit serves DVOL from {DVOL_SINCE})" if day < DVOL_SINCE else ""
        fail.raise_(f"no candle stamped {iso_ms(day_ms)} (day absent) among {len(candles)} candles{before}")
    found = days[0]
    fetched_ms = epoch_ms(fetched_at)
    if day_ms + MS_PER_DAY > fetched_ms:
        fail.raise_(f"candle still open: the day ends {iso_ms(day_ms + MS_PER_DAY)}, after fetched_at "
                    f"{iso_ms(fetched_ms)}")
    o, h, lo, c = (json_float(found[k], f"{name} of {iso_ms(day_ms)}", fail)
                   for k, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close")))
    if min(o, h, lo, c) <= 0:
        fail.raise_(f"non-positive volatility index in OHLC {o}/{h}/{lo}/{c}")
    if not (h >= max(o, c, lo) and lo <= min(o, c)):
        fail.raise_(f"inconsistent OHLC: open {o}, high {h}, low {lo}, close {c}")
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "currency": [currency],
            "candle_time": [day_ms * 1000],
            "open": [o],
            "high": [h],
            "low": [lo],
            "close": [c],
        },
        schema=DVOL_SCHEMA,
    )


def next_dvol_page(request: FetchRequest, body: bytes) -> FetchRequest | None:
    """The same request with end_timestamp = the page's continuation; None when there is none, the page is empty,
    or it already reaches back to start_timestamp (pages walk from the newest candles back)."""
    fail = Failer(SOURCE, request.dataset, request.day)
    candles, continuation = _page(body, fail)
    if continuation is None or not candles:
        return None
    start, end = _window(request.params, fail)
    if min(_stamp(row, i, fail) for i, row in enumerate(candles)) <= start or continuation < start:
        return None
    if continuation >= end:
        fail.raise_(f"continuation {iso_ms(continuation)} does not move end_timestamp {iso_ms(end)} back: paging "
                    "would not advance")
    return dataclasses.replace(request, params={**request.params, "end_timestamp": str(continuation)})


def _dvol_spec(currency: str) -> DatasetSpec:
    return DatasetSpec(
        source=SOURCE,
        dataset=dvol_dataset(currency),
        description=f"Deribit {currency} volatility index (DVOL, 30-day implied volatility, percent): the UTC day's "
                    "open, high, low and close.",
        raw_schema=DVOL_SCHEMA,
        key_columns=(PARTITION_COLUMN,),
        build_request=functools.partial(build_dvol_request, currency=currency),
        parse=functools.partial(parse_dvol, currency=currency),
        parse_takes_params=True,
        event_time_column="candle_time",
        history=f"since {DVOL_SINCE} (DVOL's first day served)",
        available_from=DVOL_SINCE,
        next_page=next_dvol_page,
        build_range_request=ignoring_send_time(functools.partial(build_dvol_range_request, currency=currency)),
        max_range_days=DAYS_PER_REQUEST,
    )


BTC_DVOL = _dvol_spec("BTC")
ETH_DVOL = _dvol_spec("ETH")

DATASETS: tuple[DatasetSpec, ...] = (BTC_DVOL, ETH_DVOL)
