"""Deribit: the BTC and ETH option chains' book summaries (snapshots of "now", archived once a day).

The two chains come from the same endpoint (`currency=BTC` / `currency=ETH`), in the same shape and name format,
so they are two datasets on one parser: `option_book_summary` (BTC, the dataset's original name, kept for the
archives and raw tables already written) and `eth_option_book_summary`."""

from __future__ import annotations

import datetime as dt
import functools
import re

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    Failer,
    day_start_ms,
    decode_json,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
    json_str,
    need,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

SOURCE = "deribit"
BOOK_SUMMARY_URL = "https://www.deribit.com/api/v2/public/get_book_summary_by_currency"
# No count cap to stay within: the method takes only currency and kind, and one call answers the whole chain
# (docs.deribit.com, public/get_book_summary_by_currency). Deribit's cap is its rate limit: 500 credits a request
# from a 50,000 pool refilled at 10,000/s, i.e. 20 requests/s sustained (sources.md §4); a day asks once.

# BTC-27DEC24-100000-C: day without zero padding, three-letter month, two-digit year, USD strike, C|P.
# USDC-settled linear options (BTC_USDC-...) are another dataset and are left out. Any other name that does not
# match (the other currency's option, a future, a malformed name) is kept: the quality rules quarantine it with its
# reason rather than letting it vanish.


def option_name_pattern(currency: str) -> re.Pattern[str]:
    """The inverse (coin-settled) option names of `currency`'s chain."""
    return re.compile(
        re.escape(currency)
        + r"-([1-9]|[12][0-9]|3[01])(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)([0-9]{2})-([1-9][0-9]*)-([CP])"
    )


def linear_option_prefix(currency: str) -> str:
    return f"{currency}_USDC-"


LINEAR_OPTION_PREFIX = linear_option_prefix("BTC")
OPTION_NAME = option_name_pattern("BTC")

_FLOAT = pa.float64()
OPTION_BOOK_SUMMARY_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("instrument_name", pa.string()),
        ("creation_time", pa.timestamp("us")),
        ("base_currency", pa.string()),
        ("quote_currency", pa.string()),
        ("underlying_index", pa.string()),
        ("underlying_price", _FLOAT),
        ("estimated_delivery_price", _FLOAT),
        ("interest_rate", _FLOAT),
        ("open_interest", _FLOAT),
        ("volume", _FLOAT),
        ("mark_price", _FLOAT),
        ("mark_iv", _FLOAT),
        ("bid_price", _FLOAT),
        ("ask_price", _FLOAT),
        ("mid_price", _FLOAT),
        ("last", _FLOAT),
        ("high", _FLOAT),
        ("low", _FLOAT),
        ("price_change", _FLOAT),
    ]
)

# A now-only snapshot of partition D is taken by the nightly run during D + 1 (demo: D + 1, 00:30 UTC), or
# late on D itself: its server time must fall in [D 00:00, D + 2 00:00) UTC.
SNAPSHOT_DAYS = 2
# The server's clock may run a little ahead of ours; further ahead than this, the body is not from this fetch.
CLOCK_SKEW = dt.timedelta(minutes=5)

_STRINGS = ("base_currency", "quote_currency", "underlying_index")
_REQUIRED_NUMBERS = (
    "underlying_price", "estimated_delivery_price", "interest_rate", "open_interest", "mark_price", "mark_iv"
)
# Null means "no quote / no trade": it stays null, never 0. `volume` is null too on rows without trades
# in the recorded real chain (137 of 326 rows of 2020-05-21), so it is nullable as well.
_NULLABLE_NUMBERS = ("volume", "bid_price", "ask_price", "mid_price", "last", "high", "low", "price_change")


def check_snapshot_time(ms: int, what: str, day: dt.date, fetched_at: dt.datetime, fail: Failer) -> None:
    """A snapshot of `day` was taken (server time `ms`, read from `what`) inside its window and by the fetch."""
    lo, hi = day_start_ms(day), day_start_ms(day + dt.timedelta(days=SNAPSHOT_DAYS))
    if not lo <= ms < hi:
        fail.raise_(
            f"snapshot taken at {iso_ms(ms)} ({what}): a snapshot of {day.isoformat()} must be taken between "
            f"{iso_ms(lo)} and {iso_ms(hi)}"
        )
    if ms > epoch_ms(fetched_at + CLOCK_SKEW):
        fail.raise_(f"snapshot time {iso_ms(ms)} ({what}) is after fetched_at {fetched_at.isoformat()}")


def rpc_result(body: bytes, fail: Failer) -> tuple[object, dict]:
    """The JSON-RPC answer's `result` and the envelope it came in, or a ParseError (not an object, an error
    envelope, no result)."""
    data = decode_json(body, fail)
    if not isinstance(data, dict):
        fail.raise_(f"expected a JSON-RPC object, got {type(data).__name__}")
    if "error" in data:
        err = data["error"]
        if isinstance(err, dict):
            fail.raise_(f"error envelope: code {err.get('code')}: {err.get('message')}")
        fail.raise_(f"error envelope: {err!r}")
    return need(data, "result", fail, "the JSON-RPC envelope"), data


def chain_dataset(currency: str) -> str:
    """The dataset of `currency`'s chain: `option_book_summary` for BTC (its name before ETH), else prefixed."""
    return "option_book_summary" if currency == "BTC" else f"{currency.lower()}_option_book_summary"


def build_option_book_summary_request(day: dt.date, currency: str = "BTC") -> FetchRequest:
    return FetchRequest(
        source=SOURCE,
        dataset=chain_dataset(currency),
        day=day,
        url=BOOK_SUMMARY_URL,
        params={"currency": currency, "kind": "option"},
    )


def parse_option_book_summary(body: bytes, day: dt.date, fetched_at: dt.datetime, currency: str = "BTC") -> pa.Table:
    fail = Failer(SOURCE, chain_dataset(currency), day)
    linear, pattern = linear_option_prefix(currency), option_name_pattern(currency)
    result, _ = rpc_result(body, fail)
    if not isinstance(result, list):
        fail.raise_(f"result must be an array of book summaries, got {type(result).__name__}")
    if not result:
        fail.raise_("empty result: no instruments in the book summary")

    rows: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            fail.raise_(f"result[{i}] is not an object")
        name = json_str(need(item, "instrument_name", fail, f"result[{i}]"), f"result[{i}].instrument_name", fail)
        if name.startswith(linear):
            continue
        where = name
        if name in seen:
            fail.raise_(f"instrument {name} appears twice")
        seen.add(name)
        row = {"instrument_name": name}
        created_ms = json_int(need(item, "creation_timestamp", fail, where), f"{name}.creation_timestamp", fail)
        # The row's own snapshot time: the chain's time to expiry is measured from it. A row stamped outside the
        # day's snapshot window is a stale quote (a cached row, a replayed old body), not this day's chain.
        check_snapshot_time(created_ms, f"{name}.creation_timestamp", day, fetched_at, fail)
        row["creation_time"] = created_ms * 1000
        for key in _STRINGS:
            row[key] = json_str(need(item, key, fail, where), f"{name}.{key}", fail)
        for key in _REQUIRED_NUMBERS:
            row[key] = json_float(need(item, key, fail, where), f"{name}.{key}", fail)
        for key in _NULLABLE_NUMBERS:
            row[key] = json_float(need(item, key, fail, where), f"{name}.{key}", fail, nullable=True)
        rows.append(row)
    if not any(pattern.fullmatch(row["instrument_name"]) for row in rows):
        fail.raise_(f"no {currency} option rows named {currency}-<D><MON><YY>-<strike>-<C|P> "
                    f"among {len(result)} instruments")

    rows.sort(key=lambda r: r["instrument_name"])
    columns = {PARTITION_COLUMN: [day] * len(rows)}
    for name in OPTION_BOOK_SUMMARY_SCHEMA.names[1:]:
        columns[name] = [r[name] for r in rows]
    return pa.Table.from_pydict(columns, schema=OPTION_BOOK_SUMMARY_SCHEMA)


# The ETH chain joined the project on 2026-12-03: the first nightly that can archive it takes the snapshot of
# partition 2026-12-02.
ETH_ARCHIVED_SINCE = dt.date(2026, 12, 2)


def _chain_spec(currency: str, archived_since: dt.date | None = None) -> DatasetSpec:
    return DatasetSpec(
        source=SOURCE,
        dataset=chain_dataset(currency),
        description=f"Deribit {currency} option chain snapshot: per instrument OI, mark price and IV, quotes and "
                    "forward.",
        raw_schema=OPTION_BOOK_SUMMARY_SCHEMA,
        key_columns=(PARTITION_COLUMN, "instrument_name"),
        build_request=functools.partial(build_option_book_summary_request, currency=currency),
        parse=functools.partial(parse_option_book_summary, currency=currency),
        event_time_column=None,
        backfillable=False,
        history="current chain only: archive nightly (history.deribit.com keeps trades, not OI or mark IV)"
                + (f"; archived since {archived_since}" if archived_since else ""),
        archived_since=archived_since,
    )


OPTION_BOOK_SUMMARY = _chain_spec("BTC")
ETH_OPTION_BOOK_SUMMARY = _chain_spec("ETH", ETH_ARCHIVED_SINCE)

DATASETS: tuple[DatasetSpec, ...] = (OPTION_BOOK_SUMMARY, ETH_OPTION_BOOK_SUMMARY)
