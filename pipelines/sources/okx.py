"""OKX v5: filled liquidation orders of the BTC-USDT perpetual swap, the only keyless REST feed with a long/short
split (sources.md §2.5, §2.7), and the swap's open interest at the start and end of each day (rubik statistics, at
the end of this module). The liquidation feed serves only about the last day, and at most about a thousand rows: on
a cascade day less than the day. So it is polled hourly (pipelines.polling), and a day is read from every poll
reaching into it (the nightly run's own fetch is one more poll).

Wire format (no public recording exists; built from the documented shape):
{"code":"0","msg":"","data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT","instFamily":"BTC-USDT",
"totalLoss":"0","details":[{"side":"sell","posSide":"long","bkPx":"…","sz":"…","bkLoss":"0","ccy":"",
"ts":"<ms>"}]}]}
All strings, details newest first, at most `limit` (<= 100) per page. Paged backwards with `after` (records OLDER
than the given ts). `side=sell`/`posSide=long` means a long position was liquidated; `sz` is in contracts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest, PollWindow
from pipelines.sources._wire import (
    MS_PER_DAY,
    Failer,
    day_start_ms,
    decimal_str_float,
    decode_json,
    epoch_ms,
    iso_ms,
    json_str,
    need,
)
from pipelines.sources._open_interest import (
    OPEN_INTEREST_DAY_SCHEMA,
    day_instants_once_over,
    day_row,
    open_interest_values,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, PollSpec, ignoring_send_time

SOURCE = "okx"
LIQUIDATION_ORDERS_URL = "https://www.okx.com/api/v5/public/liquidation-orders"
INST_TYPE = "SWAP"
INST_FAMILY = "BTC-USDT"
PAGE_LIMIT = 100  # the endpoint's maximum
# "Liquidation orders in the last day": a public probe (sources.md §2.5) got about 1003 details covering about
# 23.5 h for BTC-USDT. Polls never ask further back than the retention, and one ending at the cap is flagged.
RETENTION = dt.timedelta(hours=24)
ROW_CAP = 1000
# Contract value in BTC per contract: BTC-USDT-SWAP has ctVal 0.01 BTC (sources.md §2.5; the live value is
# served by /api/v5/public/instruments). An instrument not listed here is refused rather than guessed.
CONTRACT_VALUE_BTC: dict[str, float] = {"BTC-USDT-SWAP": 0.01}
# Which order side closes which position: a long is liquidated by a sell, a short by a buy ("net" mode: either).
_SIDE_OF_POSITION = {"long": "sell", "short": "buy"}

LIQUIDATION_ORDERS_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("ts", pa.timestamp("us")),
        ("inst_id", pa.string()),
        ("side", pa.string()),  # order side: sell = a long was liquidated, buy = a short
        ("pos_side", pa.string()),  # long | short | net
        ("bankruptcy_price", pa.float64()),  # bkPx, USDT
        ("size_contracts", pa.float64()),  # sz
        ("size_btc", pa.float64()),  # sz x ctVal
        ("notional_usd", pa.float64()),  # size_btc x bkPx (at the bankruptcy price, not the fill price)
        ("loss", pa.float64()),  # bkLoss (USDT); null when sent empty
    ]
)
# The de-duplication key of sources.md §2.5 (instId, ts, side, sz, bkPx), per partition.
LIQUIDATION_KEY = (PARTITION_COLUMN, "inst_id", "ts", "side", "size_contracts", "bankruptcy_price")


def build_liquidation_orders_request(day: dt.date) -> FetchRequest:
    # The first page asks for records older than the next midnight: the day's newest liquidations first.
    return FetchRequest(
        source=SOURCE,
        dataset="liquidation_orders",
        day=day,
        url=LIQUIDATION_ORDERS_URL,
        params={
            "instType": INST_TYPE,
            "instFamily": INST_FAMILY,
            "state": "filled",
            "after": str(day_start_ms(day + dt.timedelta(days=1))),
            "limit": str(PAGE_LIMIT),
        },
    )


def build_liquidation_orders_poll(window: PollWindow) -> FetchRequest:
    """What the feed serves at `window.at`, newest first: `after` bounds the first page at the poll's moment, so a
    poll answers the same whenever its request is replayed (the walk then goes back to `window.since`)."""
    at = window.at.astimezone(dt.UTC)
    return FetchRequest(
        source=SOURCE,
        dataset="liquidation_orders",
        day=at.date(),
        url=LIQUIDATION_ORDERS_URL,
        params={
            "instType": INST_TYPE,
            "instFamily": INST_FAMILY,
            "state": "filled",
            "after": str(epoch_ms(at) + 1),
            "limit": str(PAGE_LIMIT),
        },
        poll=window,
    )


def liquidation_order_keys(body: bytes) -> list[tuple]:
    """Every detail a page serves, any day, as (ts ms, instId, side, sz, bkPx): what a poll saw and how far back.
    Raises ParseError (dated by the ts, or by the epoch when the body is unreadable) on a body that is not data."""
    fail = Failer(SOURCE, "liquidation_orders", dt.date(1970, 1, 1))
    return [
        (_ts_ms(need(d, "ts", fail, "a detail"), "ts", fail), entry.get("instId"), d.get("side"), d.get("sz"),
         d.get("bkPx"))
        for entry in _entries(body, fail)
        for d in entry["details"]
    ]


def _data(body: bytes, fail: Failer) -> list:
    """The `data` array of OKX's envelope {"code": "0", "msg": "", "data": [...]}; any other code is an error."""
    envelope = decode_json(body, fail)
    if not isinstance(envelope, dict):
        fail.raise_(f"expected a JSON object with code and data, got {type(envelope).__name__}")
    code = need(envelope, "code", fail, "the body")
    if str(code) != "0":
        fail.raise_(f"error envelope: code {code}: {envelope.get('msg', '')}")
    data = need(envelope, "data", fail, "the body")
    if not isinstance(data, list):
        fail.raise_(f"data must be an array, got {type(data).__name__}")
    return data


def _entries(body: bytes, fail: Failer) -> list[dict]:
    entries = _data(body, fail)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            fail.raise_(f"data[{i}] is not an object")
        details = need(entry, "details", fail, f"data[{i}]")
        if not isinstance(details, list):
            fail.raise_(f"data[{i}].details must be an array, got {type(details).__name__}")
        for j, detail in enumerate(details):
            if not isinstance(detail, dict):
                fail.raise_(f"data[{i}].details[{j}] is not an object")
    return entries


def _ts_ms(value: Any, field: str, fail: Failer) -> int:
    if not isinstance(value, str) or not value.isdigit():
        fail.raise_(f"field {field} must be a string of ms digits, got {value!r}")
    ts = int(value)
    if ts > 10**14:
        fail.raise_(f"field {field} {ts} looks like microseconds, expected milliseconds")
    return ts


def parse_liquidation_orders(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """One row per liquidation detail of the day. A page may hold no detail of the day (the last page of a walk
    reaches into the previous day, or comes back empty): that is an empty table, not an error."""
    fail = Failer(SOURCE, "liquidation_orders", day)
    start = day_start_ms(day)
    fetched_ms = epoch_ms(fetched_at)
    rows: dict[tuple, dict] = {}
    for i, entry in enumerate(_entries(body, fail)):
        inst_id = json_str(need(entry, "instId", fail, f"data[{i}]"), f"data[{i}].instId", fail)
        inst_type = entry.get("instType", INST_TYPE)
        if inst_type != INST_TYPE:
            fail.raise_(f"data[{i}] instType {inst_type!r}, expected {INST_TYPE}")
        ct_val = CONTRACT_VALUE_BTC.get(inst_id)
        if ct_val is None:
            known = sorted(CONTRACT_VALUE_BTC)
            fail.raise_(f"data[{i}] instrument {inst_id!r} has no known contract value (known: {known})")
        for j, d in enumerate(entry["details"]):
            where = f"{inst_id} details[{j}]"
            ts = _ts_ms(need(d, "ts", fail, where), f"{where}.ts", fail)
            if ts > fetched_ms:
                fail.raise_(f"{where} ts {iso_ms(ts)} is after fetched_at {iso_ms(fetched_ms)}")
            side = need(d, "side", fail, where)
            pos_side = need(d, "posSide", fail, where)
            if side not in ("buy", "sell"):
                fail.raise_(f"{where} side {side!r} is not buy or sell")
            if pos_side not in ("long", "short", "net"):
                fail.raise_(f"{where} posSide {pos_side!r} is not long, short or net")
            if _SIDE_OF_POSITION.get(pos_side, side) != side:
                fail.raise_(f"{where} side {side!r} cannot liquidate a {pos_side} position")
            bk_px = decimal_str_float(need(d, "bkPx", fail, where), f"{where}.bkPx", fail)
            size = decimal_str_float(need(d, "sz", fail, where), f"{where}.sz", fail)
            raw_loss = need(d, "bkLoss", fail, where)
            loss = None if raw_loss == "" else decimal_str_float(raw_loss, f"{where}.bkLoss", fail)
            if bk_px <= 0 or size <= 0:
                fail.raise_(f"{where} non-positive bkPx {bk_px} or sz {size}")
            if loss is not None and loss < 0:
                fail.raise_(f"{where} negative bkLoss {loss}")
            if not start <= ts < start + MS_PER_DAY:
                continue  # the previous day's tail on the last page of a walk
            size_btc = float(Decimal(d["sz"]) * Decimal(str(ct_val)))  # exact: 21.85 x 0.01 = 0.2185
            row = {
                "ts": ts,
                "inst_id": inst_id,
                "side": side,
                "pos_side": pos_side,
                "bankruptcy_price": bk_px,
                "size_contracts": size,
                "size_btc": size_btc,
                "notional_usd": size_btc * bk_px,
                "loss": loss,
            }
            key = (inst_id, ts, side, size, bk_px)
            seen = rows.setdefault(key, row)
            if seen != row:
                fail.raise_(f"two details share the key {key} but differ: {seen} vs {row}")

    ordered = [rows[k] for k in sorted(rows)]
    columns: dict[str, list] = {PARTITION_COLUMN: [day] * len(ordered)}
    for name in LIQUIDATION_ORDERS_SCHEMA.names[1:]:
        columns[name] = [r[name] for r in ordered]
    columns["ts"] = [r["ts"] * 1000 for r in ordered]
    return pa.Table.from_pydict(columns, schema=LIQUIDATION_ORDERS_SCHEMA)


def next_liquidation_orders_page(request: FetchRequest, body: bytes) -> FetchRequest | None:
    """Walk back with `after` until the day's start (a poll: its `since`) is passed, or the feed runs out (a short
    page).

    The next page asks for records older than (oldest ts + 1 ms), i.e. it repeats the oldest millisecond: details
    sharing that ts may have been cut by the page limit, and repeats are dropped when pages are stitched. Only if
    a whole page shares one ms does the walk step past it (the API offers no finer cursor)."""
    fail = Failer(SOURCE, request.dataset, request.day)
    stamps = [
        _ts_ms(need(d, "ts", fail, "a detail"), "ts", fail)
        for entry in _entries(body, fail)
        for d in entry["details"]
    ]
    if not stamps:
        return None
    oldest = min(stamps)
    if oldest < (epoch_ms(request.poll.since) if request.poll else day_start_ms(request.day)):
        return None
    limit = request.params.get("limit", str(PAGE_LIMIT))
    if len(stamps) < (int(limit) if limit.isdigit() else PAGE_LIMIT):
        return None
    after = oldest + 1
    if str(after) == request.params.get("after"):
        after = oldest
    return FetchRequest(
        source=request.source,
        dataset=request.dataset,
        day=request.day,
        url=request.url,
        params={**request.params, "after": str(after)},
        poll=request.poll,
    )


LIQUIDATION_ORDERS = DatasetSpec(
    source=SOURCE,
    dataset="liquidation_orders",
    description="OKX BTC-USDT-SWAP filled liquidation orders of the day: side, bankruptcy price, size, USD.",
    raw_schema=LIQUIDATION_ORDERS_SCHEMA,
    key_columns=LIQUIDATION_KEY,
    build_request=build_liquidation_orders_request,
    parse=parse_liquidation_orders,
    event_time_column="ts",
    backfillable=False,
    history="last ~24 h only (newest ~1000 orders): polled hourly, `make poll`",
    next_page=next_liquidation_orders_page,
    max_pages=500,
    poll=PollSpec(build_request=build_liquidation_orders_poll, served_keys=liquidation_order_keys, retention=RETENTION,
                  row_cap=ROW_CAP),
)



# ---- open interest of the day (rubik statistics) -----------------------------------------------------------
# GET /api/v5/rubik/stat/contracts/open-interest-history?instId=BTC-USDT-SWAP&period=1H&begin&end&limit (sources.md
# §2.5): {"code":"0","msg":"","data":[[ts, oi (contracts), oiCcy (BTC), oiUsd (USD)], …]}, strings, newest first,
# limit at most 100. Period 1H, not 1D: OKX cuts its daily bars at 00:00 UTC+8 (its candles' 1D; sources.md §2.5),
# and the hourly rows include the ones stamped 00:00 UTC. Day D asks [D 00:00 - 1 ms, D + 1 00:00 + 1 ms], so both
# midnights are inside whether OKX counts begin/end as inclusive or not: 25 rows; a range of N days 24 N + 1 rows,
# 4 days within the 100-row limit. History is shallow and its depth undocumented (a public probe saw 4 days per
# 100-row page at 1H): archived nightly, a missed night fetched while OKX still serves it.
OPEN_INTEREST_HISTORY_URL = "https://www.okx.com/api/v5/rubik/stat/contracts/open-interest-history"
OI_INST_ID = "BTC-USDT-SWAP"
OI_PERIOD = "1H"
OI_PERIOD_MS = 3_600_000
OI_ROWS_LIMIT = 100
OI_DAYS_PER_REQUEST = (OI_ROWS_LIMIT - 1) // 24
OI_HISTORY = "shallow (undocumented depth; a probe saw days at 1H): archive nightly"
# oiCcy = oi x ctVal up to OKX's rounding of the coin amount.
_OI_CONTRACTS_TOLERANCE = 1e-6


def build_open_interest_day_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    days = (last - first).days + 1
    if not 1 <= days <= OI_DAYS_PER_REQUEST:
        raise ValueError(f"{SOURCE}/open_interest_day: {first} … {last} is {days} days ({24 * days + 1} hourly rows); "
                         f"one request holds {OI_DAYS_PER_REQUEST} within OKX's {OI_ROWS_LIMIT}-row limit")
    return FetchRequest(
        source=SOURCE,
        dataset="open_interest_day",
        day=first,
        last_day=last,
        url=OPEN_INTEREST_HISTORY_URL,
        params={
            "instId": OI_INST_ID,
            "period": OI_PERIOD,
            "begin": str(day_start_ms(first) - 1),
            "end": str(day_start_ms(last) + MS_PER_DAY + 1),
            "limit": str(OI_ROWS_LIMIT),
        },
    )


def build_open_interest_day_request(day: dt.date) -> FetchRequest:
    return build_open_interest_day_range_request(day, day)


def parse_open_interest_day(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The hourly rows stamped 00:00 UTC of `day` (its start) and of the day after (its end)."""
    fail = Failer(SOURCE, "open_interest_day", day)
    start_ms, end_ms = day_instants_once_over(day, fetched_at, fail)
    rows = _data(body, fail)
    found: dict[int, tuple[float, float]] = {}
    ctval = CONTRACT_VALUE_BTC[OI_INST_ID]
    for i, row in enumerate(rows):
        where = f"data[{i}]"
        if not isinstance(row, list) or len(row) < 4:
            fail.raise_(f"{where} is not an array [ts, oi, oiCcy, oiUsd]: {str(row)[:80]}")
        ts = _ts_ms(row[0], f"{where} ts", fail)
        if ts % OI_PERIOD_MS and start_ms <= ts <= end_ms:
            fail.raise_(f"{where} stamped {iso_ms(ts)}, not on the hour: not period={OI_PERIOD}")
        if ts not in (start_ms, end_ms):
            continue
        if ts in found:
            fail.raise_(f"two rows stamped {iso_ms(ts)}")
        contracts = decimal_str_float(row[1], f"{where} oi", fail)
        btc, usd = open_interest_values(row[2], row[3], fail, where, "oiCcy", "oiUsd")
        if abs(contracts * ctval - btc) > _OI_CONTRACTS_TOLERANCE * max(1.0, btc):
            fail.raise_(f"{where} oi {contracts} contracts x ctVal {ctval} is not oiCcy {btc} BTC")
        found[ts] = (btc, usd)
    for ts, what in ((start_ms, "start"), (end_ms, "end")):
        if ts not in found:
            fail.raise_(f"no row stamped {iso_ms(ts)} (the day's {what}) among {len(rows)} rows; OKX keeps only a "
                        f"shallow history ({OI_HISTORY.split(':')[0]})")
    (start_btc, start_usd), (end_btc, end_usd) = found[start_ms], found[end_ms]
    return day_row(day, start_ms, end_ms, (start_btc, end_btc), (start_usd, end_usd))


OPEN_INTEREST_DAY = DatasetSpec(
    source=SOURCE,
    dataset="open_interest_day",
    description="OKX BTC-USDT-SWAP open interest (BTC and USD) at the start and the end of the UTC day (hourly rows).",
    raw_schema=OPEN_INTEREST_DAY_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_open_interest_day_request,
    parse=parse_open_interest_day,
    event_time_column="start_time",
    backfillable=True,
    history=OI_HISTORY,
    build_range_request=ignoring_send_time(build_open_interest_day_range_request),
    max_range_days=OI_DAYS_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (LIQUIDATION_ORDERS, OPEN_INTEREST_DAY)
