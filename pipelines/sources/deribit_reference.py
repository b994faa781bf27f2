"""Deribit reference data beside the option chain: the listed BTC option instruments and the BTC index.

Both are snapshots of "now" (no history on the public API), archived once a night like the book summary.
The instruments give each option's strike, type, expiry and listing time as fields (the book summary only
encodes them in the name); the index is the spot reference the chain's gamma is measured against.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    EPOCH,
    Failer,
    iso_ms,
    json_float,
    json_int,
    json_str,
    need,
)
from pipelines.sources.deribit import LINEAR_OPTION_PREFIX, OPTION_NAME, SOURCE, check_snapshot_time, rpc_result
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

INSTRUMENTS_URL = "https://www.deribit.com/api/v2/public/get_instruments"
INDEX_PRICE_URL = "https://www.deribit.com/api/v2/public/get_index_price"
# No count cap to stay within: get_instruments (currency, kind, expired) answers the whole listing and
# get_index_price one value; the only cap is the rate limit (20 requests/s sustained, sources.md §4).
INDEX_NAME = "btc_usd"

_F64, _TS = pa.float64(), pa.timestamp("us")
OPTION_INSTRUMENTS_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("instrument_name", pa.string()),
        ("option_type", pa.string()),
        ("strike", _F64),
        ("expiration_time", _TS),
        ("creation_time", _TS),
        ("settlement_period", pa.string()),
        ("contract_size", _F64),
        ("tick_size", _F64),
        ("is_active", pa.bool_()),
        ("instrument_id", pa.int64()),
        ("price_index", pa.string()),
    ]
)
INDEX_PRICE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("snapshot_time", _TS),
        ("index_name", pa.string()),
        ("index_price", _F64),
        ("estimated_delivery_price", _F64),
    ]
)
_OPTION_TYPES = {"C": "call", "P": "put"}
MONTHS_BY_CODE = {
    m: i + 1
    for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
}


def build_option_instruments_request(day: dt.date) -> FetchRequest:
    return FetchRequest(
        source=SOURCE,
        dataset="option_instruments",
        day=day,
        url=INSTRUMENTS_URL,
        params={"currency": "BTC", "kind": "option", "expired": "false"},
    )


def build_index_price_request(day: dt.date) -> FetchRequest:
    return FetchRequest(
        source=SOURCE, dataset="index_price", day=day, url=INDEX_PRICE_URL, params={"index_name": INDEX_NAME}
    )


def _result(body: bytes, fail: Failer) -> tuple[object, int]:
    """The JSON-RPC `result` and the server's answer time usOut (µs), or a ParseError."""
    result, data = rpc_result(body, fail)
    us_out = json_int(need(data, "usOut", fail, "the JSON-RPC envelope"), "usOut", fail)
    return result, us_out


def _check_snapshot_time(us_out: int, day: dt.date, fetched_at: dt.datetime, fail: Failer) -> None:
    """The server time of the answer (usOut) falls in the day's snapshot window, and not after the fetch."""
    check_snapshot_time(us_out // 1000, "usOut", day, fetched_at, fail)


def _nullable(item: dict, key: str) -> object:
    """A field that older API versions omit: absent and null both mean unknown."""
    return item.get(key)


def parse_option_instruments(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "option_instruments", day)
    result, us_out = _result(body, fail)
    if not isinstance(result, list):
        fail.raise_(f"result must be an array of instruments, got {type(result).__name__}")
    if not result:
        fail.raise_("empty result: no instruments listed")
    _check_snapshot_time(us_out, day, fetched_at, fail)

    rows: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            fail.raise_(f"result[{i}] is not an object")
        name = json_str(need(item, "instrument_name", fail, f"result[{i}]"), f"result[{i}].instrument_name", fail)
        if item.get("kind") != "option" or name.startswith(LINEAR_OPTION_PREFIX):
            continue  # futures, combos, linear USDC options: not this dataset
        match = OPTION_NAME.fullmatch(name)
        if not match:
            # Not dropped: an option of the BTC listing that is not a BTC option (an ETH option, a malformed name)
            # means the body is not the listing that was asked for.
            fail.raise_(f"result[{i}] {name!r} is an option but not a BTC option named "
                        "BTC-<D><MON><YY>-<strike>-<C|P> (the request asked currency=BTC)")
        if name in seen:
            fail.raise_(f"instrument {name} appears twice")
        seen.add(name)
        option_type = json_str(need(item, "option_type", fail, name), f"{name}.option_type", fail)
        if option_type != _OPTION_TYPES[match[5]]:
            fail.raise_(f"{name}: option_type {option_type!r} contradicts the name's {match[5]!r}")
        strike = json_float(need(item, "strike", fail, name), f"{name}.strike", fail)
        if strike != float(match[4]):
            fail.raise_(f"{name}: strike {strike} contradicts the name's {match[4]}")
        expiry_ms = json_int(need(item, "expiration_timestamp", fail, name), f"{name}.expiration_timestamp", fail)
        try:
            named_expiry = dt.date(2000 + int(match[3]), MONTHS_BY_CODE[match[2]], int(match[1]))
        except ValueError:
            fail.raise_(f"{name}: the name's expiry {match[1]}{match[2]}{match[3]} is not a calendar day")
        if (EPOCH + dt.timedelta(milliseconds=expiry_ms)).date() != named_expiry:
            fail.raise_(f"{name}: expiration_timestamp {iso_ms(expiry_ms)} is not on the name's day {named_expiry}")
        created_ms = json_int(need(item, "creation_timestamp", fail, name), f"{name}.creation_timestamp", fail)
        if created_ms > expiry_ms:
            fail.raise_(f"{name}: created {iso_ms(created_ms)} after its expiry {iso_ms(expiry_ms)}")
        settlement = json_str(need(item, "settlement_period", fail, name), f"{name}.settlement_period", fail)
        contract_size = json_float(need(item, "contract_size", fail, name), f"{name}.contract_size", fail)
        tick_size = json_float(_nullable(item, "tick_size"), f"{name}.tick_size", fail, nullable=True)
        if contract_size <= 0 or (tick_size is not None and tick_size <= 0):
            fail.raise_(f"{name}: non-positive contract_size {contract_size} or tick_size {tick_size}")
        is_active = need(item, "is_active", fail, name)
        if not isinstance(is_active, bool):
            fail.raise_(f"field {name}.is_active must be a JSON boolean, got {is_active!r}")
        raw_id = _nullable(item, "instrument_id")
        instrument_id = None if raw_id is None else json_int(raw_id, f"{name}.instrument_id", fail)
        price_index = json_str(need(item, "price_index", fail, name), f"{name}.price_index", fail)
        rows.append(
            {
                "instrument_name": name,
                "option_type": option_type,
                "strike": strike,
                "expiration_time": expiry_ms * 1000,
                "creation_time": created_ms * 1000,
                "settlement_period": settlement,
                "contract_size": contract_size,
                "tick_size": tick_size,
                "is_active": is_active,
                "instrument_id": instrument_id,
                "price_index": price_index,
            }
        )
    if not rows:
        fail.raise_(f"no BTC option instruments named BTC-<D><MON><YY>-<strike>-<C|P> among {len(result)} instruments")
    rows.sort(key=lambda r: r["instrument_name"])
    columns = {PARTITION_COLUMN: [day] * len(rows)}
    for column in OPTION_INSTRUMENTS_SCHEMA.names[1:]:
        columns[column] = [r[column] for r in rows]
    return pa.Table.from_pydict(columns, schema=OPTION_INSTRUMENTS_SCHEMA)


def parse_index_price(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    fail = Failer(SOURCE, "index_price", day)
    result, us_out = _result(body, fail)
    if not isinstance(result, dict):
        fail.raise_(f"result must be an object {{index_price, estimated_delivery_price}}, got {type(result).__name__}")
    index_price = json_float(need(result, "index_price", fail, "result"), "index_price", fail)
    delivery = json_float(need(result, "estimated_delivery_price", fail, "result"), "estimated_delivery_price", fail)
    if index_price <= 0 or delivery <= 0:
        fail.raise_(f"non-positive index_price {index_price} or estimated_delivery_price {delivery}")
    _check_snapshot_time(us_out, day, fetched_at, fail)
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "snapshot_time": [us_out],
            "index_name": [INDEX_NAME],
            "index_price": [index_price],
            "estimated_delivery_price": [delivery],
        },
        schema=INDEX_PRICE_SCHEMA,
    )


OPTION_INSTRUMENTS = DatasetSpec(
    source=SOURCE,
    dataset="option_instruments",
    description="Deribit listed BTC options: strike, call/put, expiry, listing time, settlement period, tick size.",
    raw_schema=OPTION_INSTRUMENTS_SCHEMA,
    key_columns=(PARTITION_COLUMN, "instrument_name"),
    build_request=build_option_instruments_request,
    parse=parse_option_instruments,
    event_time_column=None,
    backfillable=False,
    history="current listing only: archive nightly",
)

INDEX_PRICE = DatasetSpec(
    source=SOURCE,
    dataset="index_price",
    description="Deribit BTC/USD index (the options' spot reference) and estimated delivery price, nightly.",
    raw_schema=INDEX_PRICE_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_index_price_request,
    parse=parse_index_price,
    event_time_column=None,  # the snapshot is taken after the day it stands for
    backfillable=False,
    history="current value only: archive nightly",
)

DATASETS: tuple[DatasetSpec, ...] = (OPTION_INSTRUMENTS, INDEX_PRICE)
