"""Market-wide liquidations streamed by Binance, Bybit and OKX: what a collector connects to, and how a frame
it archived is read back. Pure: no I/O, no clock (issue 14; sources.md §9).

A collector needs per venue (`FEEDS`): the public websocket URL(s), the text frames to send after connecting, the
heartbeat it owes, how long the venue keeps a connection, and whether the feed is complete or a throttled sample.
The daily load reads each archived frame with `classify` (data, heartbeat, subscribe ack, refusal, notice, unknown)
and `parse_frame` (one row per liquidation order of a BTC contract followed).

Wire formats (recorded samples and their provenance: tests/fixtures/liquidation_streams/PROVENANCE.md):
- Binance USDⓈ-M and COIN-M `!forceOrder@arr`: {"e":"forceOrder","E":ms,"o":{"s","S","q","p","ap","X","l","z",
  "T":ms}}, one order per frame. `S` is the liquidation ORDER's side: SELL closes a long. USDⓈ-M `z` is BTC; COIN-M
  `z` is contracts of 100 USD (BTCUSD_*). A snapshot stream: per symbol only the latest order of each 1000 ms.
- Bybit v5 `allLiquidation.<symbol>`: {"topic","type":"snapshot","ts":ms,"data":[{"T":ms,"s","S","v","p"}]},
  batched every 500 ms, every liquidation. `S` is the POSITION side: "Buy" = a long was liquidated (Bybit's page:
  "When you receive a Buy update, this means that a long position has been liquidated"). `v` is BTC on linear
  contracts and USD on the inverse BTCUSD; `p` is the bankruptcy price.
- OKX v5 `liquidation-orders`: {"arg":{"channel","instType"},"data":[{"instId","instType","uly","details":[{"side",
  "posSide","bkPx","sz","bkLoss","ts"}]}]}, the same detail shape as the REST endpoint pipelines.sources.okx reads.
  `sz` is contracts (ctVal BTC each on BTC-USDT-SWAP, ctVal USD on the inverse BTC-USD-*).

The archive is one file per venue, not per connection, so a frame's market is told by its symbol: the symbols of
a venue's markets are disjoint (Binance BTCUSDT / BTCUSD_PERP, Bybit BTCUSDT / BTCUSD, OKX instType in the frame).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

import pyarrow as pa

from pipelines.sources import okx
from pipelines.sources._wire import EPOCH, Failer, epoch_ms

DATASET = "liquidation_stream"
VENUES = ("binance", "bybit", "okx")
# A ms timestamp above this is microseconds or garbage (it is the year 5138), not a venue's trade time.
_MAX_MS = 10**14
# Plain decimal syntax only: Decimal() alone would also take " 1", "1_000", "NaN" and "Infinity".
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


# ---- instruments followed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instrument:
    """One BTC contract family a venue publishes, and how its quantity converts.

    `pattern` matches the symbol as the venue writes it (dated futures change symbol every quarter). Linear: the
    quantity times `contract_value` is BTC. Inverse: the quantity times `contract_value` is USD, and BTC is that
    USD at the order's price."""

    venue: str
    market: str  # usdm | coinm (Binance), linear | inverse (Bybit), SWAP | FUTURES (OKX instType)
    pattern: str
    contract_type: str  # linear | inverse
    quantity_unit: str  # BTC | contracts | USD: what the venue's quantity counts
    contract_value: Decimal  # BTC per unit (linear) or USD per unit (inverse)

    def matches(self, symbol: str) -> bool:
        return re.fullmatch(self.pattern, symbol) is not None


_ONE = Decimal(1)
# OKX's BTC-USDT-SWAP value comes from the REST parser's table (one source of truth for the same contract).
_OKX_BTC_USDT_SWAP = Decimal(str(okx.CONTRACT_VALUE_BTC["BTC-USDT-SWAP"]))

INSTRUMENTS: tuple[Instrument, ...] = (
    # Binance USDⓈ-M: perpetuals and quarterlies, quantity in BTC.
    Instrument("binance", "usdm", r"BTCUSDT|BTCUSDC|BTCUSDT_\d{6}", "linear", "BTC", _ONE),
    # Binance COIN-M: BTCUSD perpetual and quarterlies, 100 USD a contract.
    Instrument("binance", "coinm", r"BTCUSD_(?:PERP|\d{6})", "inverse", "contracts", Decimal(100)),
    # Bybit: USDT perpetual and USDC perpetual (BTCPERP) in BTC; the inverse perpetual's qty is USD (1 USD a contract).
    Instrument("bybit", "linear", r"BTCUSDT|BTCPERP", "linear", "BTC", _ONE),
    Instrument("bybit", "inverse", r"BTCUSD", "inverse", "USD", _ONE),
    # OKX: public/instruments ctVal (BTC-USDT-SWAP 0.01 BTC; BTC-USD-SWAP and BTC-USD-<yymmdd> 100 USD).
    Instrument("okx", "SWAP", r"BTC-USDT-SWAP", "linear", "contracts", _OKX_BTC_USDT_SWAP),
    Instrument("okx", "SWAP", r"BTC-USD-SWAP", "inverse", "contracts", Decimal(100)),
    Instrument("okx", "FUTURES", r"BTC-USD-\d{6}", "inverse", "contracts", Decimal(100)),
)


def instrument_for(venue: str, symbol: str, market: str | None = None) -> Instrument | None:
    """The followed instrument `symbol` is on `venue` (within `market` when the frame names it), or None."""
    for inst in INSTRUMENTS:
        if inst.venue == venue and (market is None or inst.market == market) and inst.matches(symbol):
            return inst
    return None


# ---- what a collector connects to ----------------------------------------------------------------------


@dataclass(frozen=True)
class VenueFeed:
    """One websocket connection a collector keeps open.

    `subscribe`: text frames to send once connected (again after every reconnect: no venue resumes a session).
    `ping_text`/`ping_interval_s`: the application-level heartbeat the client owes (None: the server pings with
    protocol ping frames and the websocket library answers them). `max_connection_s`: the venue closes a
    connection after this long (None: not documented), so a collector reconnects before. `throttled`: the feed is a
    sample, its counts and volumes lower bounds; `coverage` says what it can and cannot see."""

    venue: str
    market: str
    url: str
    subscribe: tuple[str, ...]
    ping_text: str | None
    ping_interval_s: float | None
    max_connection_s: float | None
    throttled: bool
    coverage: str
    instruments: tuple[Instrument, ...] = field(default=())


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _instruments(venue: str, *markets: str) -> tuple[Instrument, ...]:
    return tuple(i for i in INSTRUMENTS if i.venue == venue and i.market in markets)


_BINANCE_COVERAGE = ("Binance pushes at most one liquidation order per symbol per 1000 ms (the latest): when a "
                     "cascade liquidates several orders of a symbol within a second, only one is seen, so orders "
                     "and volumes are a lower bound.")
_BYBIT_COVERAGE = ("Bybit pushes every liquidation, batched every 500 ms; only the symbols subscribed are seen "
                   "(the perpetuals, not the dated futures).")
# OKX's own page (Liquidation orders channel): "This data doesn't represent the total number of liquidations on
# OKX." It does not say how it is sampled, so the feed is taken as a sample; the REST poll is its backfill.
_OKX_COVERAGE = ("OKX documents that the liquidation-orders channel does not represent the total number of "
                 "liquidations on OKX (sampling not documented): a lower bound, backfilled by the hourly REST poll "
                 "of public/liquidation-orders.")

FEEDS: dict[str, tuple[VenueFeed, ...]] = {
    # Binance: the stream is in the URL path, nothing to subscribe. USDⓈ-M market streams moved to the /market
    # root (Binance's "Important WebSocket Change Notice"; the legacy wss://fstream.binance.com/ws/... was retired on
    # 2026-04-23). Server pings every 3 min, pong within 10 min, connections end at 24 h.
    "binance": (
        VenueFeed("binance", "usdm", "wss://fstream.binance.com/market/ws/!forceOrder@arr", (), None, None,
                  24 * 3600.0, True, _BINANCE_COVERAGE, _instruments("binance", "usdm")),
        VenueFeed("binance", "coinm", "wss://dstream.binance.com/ws/!forceOrder@arr", (), None, None,
                  24 * 3600.0, True, _BINANCE_COVERAGE, _instruments("binance", "coinm")),
    ),
    # Bybit: linear and inverse on their own public endpoints; {"op":"ping"} every 20 s (Bybit's recommendation).
    # Public connections have no documented lifetime (idle ones are cut after 10 min without ping or data).
    "bybit": (
        VenueFeed("bybit", "linear", "wss://stream.bybit.com/v5/public/linear",
                  (_json({"op": "subscribe", "args": ["allLiquidation.BTCUSDT", "allLiquidation.BTCPERP"]}),),
                  _json({"op": "ping"}), 20.0, None, False, _BYBIT_COVERAGE, _instruments("bybit", "linear")),
        VenueFeed("bybit", "inverse", "wss://stream.bybit.com/v5/public/inverse",
                  (_json({"op": "subscribe", "args": ["allLiquidation.BTCUSD"]}),),
                  _json({"op": "ping"}), 20.0, None, False, _BYBIT_COVERAGE, _instruments("bybit", "inverse")),
    ),
    # OKX: one subscription per instType (all instruments of the type; BTC ones are kept when read). The server
    # cuts a connection after 30 s without data: send the text "ping" when idle for N < 30 s, answered "pong".
    "okx": (
        VenueFeed("okx", "SWAP+FUTURES", "wss://ws.okx.com:8443/ws/v5/public",
                  (_json({"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"},
                                                      {"channel": "liquidation-orders", "instType": "FUTURES"}]}),),
                  "ping", 25.0, None, True, _OKX_COVERAGE, _instruments("okx", "SWAP", "FUTURES")),
    ),
}


# ---- classifying a frame -------------------------------------------------------------------------------


class Kind(str, Enum):
    DATA = "data"
    HEARTBEAT = "heartbeat"  # the venue's answer to our ping
    SUBSCRIBED = "subscribed"  # the subscribe acknowledgement
    ERROR = "error"  # an error or a refused subscription: `code` and `message` say which
    NOTICE = "notice"  # a venue notice (OKX 64008: the connection closes soon for an upgrade)
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FrameKind:
    kind: Kind
    code: str | None = None
    message: str | None = None


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise ValueError(f"unknown liquidation venue {venue!r}: expected one of {', '.join(VENUES)}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def _decode(frame_text: str) -> tuple[Any, str | None]:
    """(JSON value, None), or (None, why the text is not JSON)."""
    if not isinstance(frame_text, str):
        return None, f"frame must be text, got {type(frame_text).__name__}"
    if not frame_text.strip():
        return None, "empty frame"
    try:
        return json.loads(frame_text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno}; {len(frame_text)} chars)"
    except ValueError as exc:
        return None, str(exc)


def _binance_events(data: Any) -> list | None:
    """The forceOrder events a Binance frame carries (raw, combined-stream wrapped, or an array), else None."""
    if isinstance(data, dict) and "stream" in data and "data" in data:
        data = data["data"]
    items = data if isinstance(data, list) else [data]
    if items and all(isinstance(i, dict) and i.get("e") == "forceOrder" for i in items):
        return items
    return None


def _classify(venue: str, frame_text: str) -> tuple[FrameKind, Any]:
    if venue == "okx" and isinstance(frame_text, str) and frame_text == "pong":
        return FrameKind(Kind.HEARTBEAT), None
    data, why = _decode(frame_text)
    if why is not None:
        return FrameKind(Kind.UNKNOWN, message=why), None
    if venue == "binance":
        if _binance_events(data) is not None:
            return FrameKind(Kind.DATA), data
        if isinstance(data, dict):
            if "result" in data and "id" in data:
                return FrameKind(Kind.SUBSCRIBED), data
            err = data.get("error") if isinstance(data.get("error"), dict) else data
            if "code" in err and "msg" in err:
                return FrameKind(Kind.ERROR, str(err["code"]), str(err["msg"])), data
    elif venue == "bybit" and isinstance(data, dict):
        if isinstance(data.get("topic"), str) and data["topic"].startswith("allLiquidation.") and "data" in data:
            return FrameKind(Kind.DATA), data
        op = data.get("op")
        if data.get("success") is False or op == "error":
            code = data.get("ret_code")  # the v5 public refusal carries only ret_msg
            return FrameKind(Kind.ERROR, None if code is None else str(code), str(data.get("ret_msg", ""))), data
        if data.get("success") is True and op == "subscribe":
            return FrameKind(Kind.SUBSCRIBED), data
        if (data.get("success") is True and op == "ping") or op == "pong":
            return FrameKind(Kind.HEARTBEAT), data
    elif venue == "okx" and isinstance(data, dict):
        event = data.get("event")
        if event == "error":
            return FrameKind(Kind.ERROR, str(data.get("code", "")), str(data.get("msg", ""))), data
        if event == "subscribe":
            return FrameKind(Kind.SUBSCRIBED), data
        if event in ("notice", "channel-conn-count"):
            return FrameKind(Kind.NOTICE, str(data.get("code", "")) or None, data.get("msg")), data
        arg = data.get("arg")
        if event is None and isinstance(arg, dict) and arg.get("channel") == "liquidation-orders" and "data" in data:
            return FrameKind(Kind.DATA), data
    return FrameKind(Kind.UNKNOWN, message=f"not a {venue} liquidation, heartbeat, ack or error frame: "
                                           f"{frame_text[:80]!r}"), None


def classify(venue: str, frame_text: str) -> FrameKind:
    """What one websocket text frame of `venue` is. Never raises on the frame (a malformed one is UNKNOWN with
    the reason); an unknown venue is a programming error (ValueError)."""
    _check_venue(venue)
    return _classify(venue, frame_text)[0]


# ---- parsing a data frame ------------------------------------------------------------------------------

# One row per liquidation order. Times are UTC (naive, like every raw table): event_time as the venue stamps it
# (trade/update time, ms), received_at as the collector recorded it (µs). A frame stamped far from received_at
# (clock skew, a late batch) keeps its event_time: the caller decides what to do with it.
LIQUIDATION_EVENT_SCHEMA = pa.schema(
    [
        ("venue", pa.string()),
        ("instrument", pa.string()),  # the symbol as the venue writes it
        ("market", pa.string()),  # usdm | coinm | linear | inverse | SWAP | FUTURES
        ("contract_type", pa.string()),  # linear | inverse
        ("side", pa.string()),  # the position liquidated: long | short
        ("price", pa.float64()),  # Binance average fill price (order price if none), Bybit/OKX bankruptcy price
        ("quantity", pa.float64()),  # as the venue gives it, in quantity_unit
        ("quantity_unit", pa.string()),  # BTC | contracts | USD
        ("btc", pa.float64()),
        ("usd", pa.float64()),
        ("event_time", pa.timestamp("ms")),
        ("received_at", pa.timestamp("us")),
        ("order_key", pa.string()),
    ]
)


@dataclass(frozen=True)
class ParsedFrame:
    """What one frame holds: its kind, the BTC liquidation rows, and the orders left out by reason ("not followed":
    another coin or a BTC contract outside INSTRUMENTS; "not filled": a Binance order with nothing filled)."""

    frame: FrameKind
    rows: tuple[dict, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)


def _canonical(value: Decimal) -> str:
    # "9910.00000000" and "9910" are the same price: the key must not depend on how many zeros a venue pads.
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def order_key(venue: str, instrument: str, event_ms: int, side: str, price: Decimal, quantity: Decimal,
              repeat: int = 0) -> str:
    """The de-duplication key of one liquidation order.

    None of the three public feeds carries an order or trade id, so an order is identified by what each venue
    publishes about it: venue, instrument, its trade/update time in ms, the position side, price and quantity as
    the venue writes them (decimals canonicalised). The same order seen twice (two connections overlapping, a
    reconnect, or OKX's stream and its REST poll, which publish the same instId/ts/side/bkPx/sz) gets the same key.
    `repeat` > 0 marks the n-th identical item within ONE frame: a venue batching two equal orders in a push meant
    two orders, whereas the same item in two frames is one order seen twice. Two distinct orders identical in every
    published field in the same ms, in different frames, cannot be told apart (counted once)."""
    key = f"{venue}|{instrument}|{event_ms}|{side}|{_canonical(price)}|{_canonical(quantity)}"
    return key if repeat == 0 else f"{key}#{repeat}"


def _decimal(value: Any, where: str, fail: Failer, *, positive: bool = True) -> Decimal:
    if not isinstance(value, str):
        fail.raise_(f"{where} must be a decimal string, got {type(value).__name__} {value!r}")
    if not _DECIMAL.fullmatch(value):
        fail.raise_(f"{where} is not a decimal number: {value!r}")
    result = Decimal(value)
    if positive and result <= 0:
        fail.raise_(f"{where} must be positive, got {value!r}")
    return result


def _ms(value: Any, where: str, fail: Failer) -> int:
    # Binance and Bybit send JSON integers, OKX strings of digits.
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        fail.raise_(f"{where} must be a positive ms timestamp, got {value!r}")
    if value > _MAX_MS:
        fail.raise_(f"{where} {value} looks like microseconds, expected milliseconds")
    return value


def _need(obj: Any, key: str, where: str, fail: Failer) -> Any:
    if not isinstance(obj, dict):
        fail.raise_(f"{where} is not an object: {str(obj)[:80]}")
    if key not in obj:
        fail.raise_(f"missing field {key!r} in {where}")
    return obj[key]


def _row(venue: str, inst: Instrument, symbol: str, side: str, price: Decimal, quantity: Decimal, event_ms: int,
         received_at: dt.datetime, repeat: int) -> dict:
    if inst.contract_type == "linear":
        btc = quantity * inst.contract_value
        usd = btc * price
    else:
        usd = quantity * inst.contract_value
        btc = usd / price
    return {
        "venue": venue,
        "instrument": symbol,
        "market": inst.market,
        "contract_type": inst.contract_type,
        "side": side,
        "price": float(price),
        "quantity": float(quantity),
        "quantity_unit": inst.quantity_unit,
        "btc": float(btc),
        "usd": float(usd),
        "event_time": EPOCH + dt.timedelta(milliseconds=event_ms),
        "received_at": received_at,
        "order_key": order_key(venue, symbol, event_ms, side, price, quantity, repeat),
    }


_BINANCE_SIDE = {"SELL": "long", "BUY": "short"}  # the order's side: a sell closes a long
_BYBIT_SIDE = {"Buy": "long", "Sell": "short"}  # the position's side (Bybit's documented convention)
_OKX_SIDE = {"sell": "long", "buy": "short"}  # the order's side; posSide long/short must agree, net says nothing


def _items_binance(data: Any, fail: Failer) -> list[tuple]:
    out = []
    for i, event in enumerate(_binance_events(data) or []):
        where = f"forceOrder #{i}"
        order = _need(event, "o", where, fail)
        symbol = _need(order, "s", f"{where}.o", fail)
        if not isinstance(symbol, str) or not symbol:
            fail.raise_(f"{where}.o.s must be a symbol, got {symbol!r}")
        out.append((symbol, None, order, f"{where} {symbol}"))
    return out


def _parse_binance(item: tuple, inst: Instrument, fail: Failer) -> tuple[str, Decimal, Decimal, int] | None:
    symbol, _, order, where = item
    raw_side = _need(order, "S", where, fail)
    if raw_side not in _BINANCE_SIDE:
        fail.raise_(f"{where} side S {raw_side!r} is not BUY or SELL")
    filled = _decimal(_need(order, "z", where, fail), f"{where} z", fail, positive=False)
    if filled < 0:
        fail.raise_(f"{where} filled quantity z is negative: {order['z']!r}")
    if filled == 0:
        return None  # an order not (yet) filled liquidated nothing
    avg = _decimal(order.get("ap", "0"), f"{where} ap", fail, positive=False)
    # The average fill price is what the order was filled at; the order price only when none is given.
    price = avg if avg > 0 else _decimal(_need(order, "p", where, fail), f"{where} p", fail)
    event_ms = _ms(_need(order, "T", where, fail), f"{where} T", fail)
    return _BINANCE_SIDE[raw_side], price, filled, event_ms


def _items_bybit(data: dict, fail: Failer) -> list[tuple]:
    items = data.get("data")
    if isinstance(items, dict):  # a single object: tolerated, the documented shape is an array
        items = [items]
    if not isinstance(items, list):
        fail.raise_(f"{data.get('topic')} data must be an array, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        symbol = _need(item, "s", f"{data['topic']} data[{i}]", fail)
        if not isinstance(symbol, str) or not symbol:
            fail.raise_(f"{data['topic']} data[{i}].s must be a symbol, got {symbol!r}")
        out.append((symbol, None, item, f"{data['topic']} data[{i}] {symbol}"))
    return out


def _parse_bybit(item: tuple, inst: Instrument, fail: Failer) -> tuple[str, Decimal, Decimal, int]:
    _, _, order, where = item
    raw_side = _need(order, "S", where, fail)
    if raw_side not in _BYBIT_SIDE:
        fail.raise_(f"{where} side S {raw_side!r} is not Buy or Sell")
    price = _decimal(_need(order, "p", where, fail), f"{where} p", fail)
    quantity = _decimal(_need(order, "v", where, fail), f"{where} v", fail)
    event_ms = _ms(_need(order, "T", where, fail), f"{where} T", fail)
    return _BYBIT_SIDE[raw_side], price, quantity, event_ms


def _items_okx(data: dict, fail: Failer) -> list[tuple]:
    entries = data.get("data")
    if not isinstance(entries, list):
        fail.raise_(f"liquidation-orders data must be an array, got {type(entries).__name__}")
    arg_type = data["arg"].get("instType")
    out = []
    for i, entry in enumerate(entries):
        symbol = _need(entry, "instId", f"data[{i}]", fail)
        if not isinstance(symbol, str) or not symbol:
            fail.raise_(f"data[{i}].instId must be an instrument id, got {symbol!r}")
        inst_type = entry.get("instType", arg_type)
        details = _need(entry, "details", f"data[{i}] {symbol}", fail)
        if not isinstance(details, list):
            fail.raise_(f"data[{i}] {symbol} details must be an array, got {type(details).__name__}")
        for j, detail in enumerate(details):
            out.append((symbol, inst_type, detail, f"data[{i}] {symbol} details[{j}]"))
    return out


def _parse_okx(item: tuple, inst: Instrument, fail: Failer) -> tuple[str, Decimal, Decimal, int]:
    _, _, detail, where = item
    side = _need(detail, "side", where, fail)
    pos_side = _need(detail, "posSide", where, fail)
    if side not in _OKX_SIDE:
        fail.raise_(f"{where} side {side!r} is not buy or sell")
    if pos_side not in ("long", "short", "net"):
        fail.raise_(f"{where} posSide {pos_side!r} is not long, short or net")
    if pos_side != "net" and _OKX_SIDE[side] != pos_side:
        fail.raise_(f"{where} side {side!r} cannot liquidate a {pos_side} position")
    price = _decimal(_need(detail, "bkPx", where, fail), f"{where} bkPx", fail)
    quantity = _decimal(_need(detail, "sz", where, fail), f"{where} sz", fail)
    event_ms = _ms(_need(detail, "ts", where, fail), f"{where} ts", fail)
    return _OKX_SIDE[side], price, quantity, event_ms


_READERS = {
    "binance": (_items_binance, _parse_binance),
    "bybit": (_items_bybit, _parse_bybit),
    "okx": (_items_okx, _parse_okx),
}


def parse_frame(venue: str, frame_text: str, received_at: dt.datetime) -> ParsedFrame:
    """The liquidation orders of the BTC contracts followed in one archived frame of `venue`.

    A heartbeat, ack, refusal or notice holds no order: its ParsedFrame has no rows and says what it was (the
    caller records a refusal as a gap). Orders of other coins or of BTC contracts not followed are left out and
    counted in `skipped`. An unknown or malformed frame raises ParseError naming the venue, the frame's received
    day and the reason: the caller quarantines that frame and keeps the rest of the hour."""
    _check_venue(venue)
    if not isinstance(received_at, dt.datetime):
        raise TypeError(f"received_at must be a datetime, got {type(received_at).__name__}")
    if received_at.tzinfo is not None:
        received_at = received_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    fail = Failer(venue, DATASET, received_at.date())
    kind, data = _classify(venue, frame_text)
    if kind.kind == Kind.UNKNOWN:
        fail.raise_(f"unknown frame received {received_at.isoformat()}: {kind.message}")
    if kind.kind != Kind.DATA:
        return ParsedFrame(kind)
    items, read = _READERS[venue]
    rows: list[dict] = []
    skipped: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for item in items(data, fail):
        symbol, market = item[0], item[1]
        inst = instrument_for(venue, symbol, market)
        if inst is None:
            skipped["not followed"] += 1  # another coin (ETH…), or a BTC contract outside INSTRUMENTS
            continue
        parsed = read(item, inst, fail)
        if parsed is None:
            skipped["not filled"] += 1
            continue
        side, price, quantity, event_ms = parsed
        base = order_key(venue, symbol, event_ms, side, price, quantity)
        rows.append(_row(venue, inst, symbol, side, price, quantity, event_ms, received_at, seen[base]))
        seen[base] += 1
    return ParsedFrame(kind, tuple(rows), dict(sorted(skipped.items())))


def events_table(rows: list[dict] | tuple[dict, ...]) -> pa.Table:
    """Rows of parse_frame as a table with exactly LIQUIDATION_EVENT_SCHEMA."""
    return pa.Table.from_pylist(list(rows), schema=LIQUIDATION_EVENT_SCHEMA)


def skew_ms(row: dict) -> int:
    """How far the venue's stamp is from when the frame was received (positive: received after), for the caller's
    clock-skew rule."""
    return epoch_ms(row["received_at"]) - epoch_ms(row["event_time"])


__all__ = [
    "DATASET", "FEEDS", "INSTRUMENTS", "LIQUIDATION_EVENT_SCHEMA", "VENUES", "FrameKind", "Instrument", "Kind",
    "ParsedFrame", "VenueFeed", "classify", "events_table", "instrument_for", "order_key",
    "parse_frame", "skew_ms",
]
