"""The demo's market-wide liquidation feeds: every BTC liquidation order of a demo day on Binance, Bybit and OKX,
and the websocket frames each venue would push for them, on the venues' real wire formats.

Ground truth. One instrument per contract followed (see INSTRUMENTS): Binance USDⓈ-M BTCUSDT and COIN-M
BTCUSD_PERP, Bybit linear BTCUSDT and inverse BTCUSD, OKX BTC-USDT-SWAP and BTC-USD-SWAP. All of them are driven by
the demo's one leveraged-cohort model (pipelines.demo.derivatives): the minute-by-minute share of leveraged longs
and shorts liquidated by the market's price path, times the instrument's scale (a multiple `share` of OKX
BTC-USDT-SWAP's open-interest scale, and a seeded day factor per instrument, so venues move together but not in
lockstep). So the cascade days of the OKX REST feed are the cascade days of every venue, and quiet days stay quiet.
- OKX BTC-USDT-SWAP's orders ARE DerivativesModel.liquidation_events (what /api/v5/public/liquidation-orders serves,
  pipelines.demo.endpoints_okx): the same ts, side, size, bkPx and bkLoss, formatted the same, so a REST poll and the
  stream see the same order (the collector de-duplicates on that).
- The others are drawn like those events (Poisson arrivals per minute, truncated-Pareto sizes that grow with the day's
  volume, a bankruptcy price just beyond the minute's price), but in bursts (one price swing hits many positions;
  an engine works a big position in several fills), bigger in the busiest minutes. Bursts are what make Binance's
  throttling bite.
- Sizes are on each venue's lot and in its unit: BTC on linear contracts (OKX: contracts of 0.01 BTC), USD on
  inverse ones (Binance COIN-M and OKX BTC-USD-SWAP: contracts of 100 USD; Bybit inverse: the qty is USD), and
  BTC = USD / price there.
`orders(venue, day)` is every order; `pushed(venue, day)` what the venue's stream carries; `totals` sums either.

Scale. The market-wide total on the demo's November flush (BREAK_DAY) is about $0.8B, more than 80% longs, of the
order of the report's "$865M in 24 hours, mostly longs" (which counts every coin); quiet days hold a few million.
OKX BTC-USDT-SWAP alone carries about a quarter of it (the demo's OKX feed is a large instrument, see
derivatives.py).

Wire formats (`frames(stream, topic, day)`), each venue's own, compact JSON as the venues send it:
- Binance `!forceOrder@arr` (and `<symbol>@forceOrder`), USDⓈ-M and COIN-M: one `forceOrder` event per frame.
  Binance documents "for each symbol, only the latest one liquidation order within 1000ms will be pushed as the
  snapshot": here per symbol and second (windows aligned on the second), the window's last order is pushed when the
  window closes (E = the push time). So the stream under-counts by design, most on cascade days.
- Bybit v5 `allLiquidation.<symbol>`: "Push frequency: 500ms": every 500 ms window with orders gives one frame
  {"topic","type":"snapshot","ts","data":[{"T","s","S","v","p"}, ...]} listing all of them (S "Buy" = a long
  liquidated, p the bankruptcy price), so nothing is dropped.
- OKX `liquidation-orders` (instType SWAP): one push per order, {"arg":{"channel","instType"},"data":[{"details":
  [{"bkLoss","bkPx","ccy","posSide","side","sz","ts"}],"instFamily","instId","instType","uly"}]}, sent after a
  seeded latency, so pushes are not strictly in ts order ("Liquidation data comes from different data sources, so the
  updated data is not necessarily in chronological order", OKX). OKX also writes "This data doesn't represent the
  total number of liquidations on OKX": the demo pushes every order of the two swaps it lists.
Sources: developers.binance.com (USDⓈ-M and COIN-M "Liquidation Order Streams"), bybit-exchange/docs
docs/v5/websocket/public/all-liquidation.mdx, okx.com/docs-v5 "Liquidation orders channel" (looked up 2026-12).

Everything is a pure function of the date (seeded through pipelines.demo.seeds), so the same day gives the same
orders and byte-identical frames in every process.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pipelines.demo.derivatives import MS_PER_DAY, MS_PER_MINUTE, DerivativesModel, date_of_ms, day_ms
from pipelines.demo.endpoints_derivatives import _trim
from pipelines.demo.market import MINUTES, MarketModel
from pipelines.demo.seeds import rng

VENUES = ("binance", "bybit", "okx")
SEED_LABEL = "demo-liquidation-feeds/v1"
# The demo's November leverage flush: BTC loses 100k on 2025-11-10 and falls ~4% more on 11-11, liquidating the longs
# built at higher prices (hundreds of millions of USD market-wide). The $92k level itself breaks on 11-14, after the
# flush, when there is much less leverage left to liquidate (derivatives.py: a fall after a flush does much less).
BREAK_DAY = dt.date(2025, 11, 11)

BINANCE_WINDOW_MS = 1_000  # "only the latest one liquidation order within 1000ms will be pushed"
BYBIT_PUSH_MS = 500  # "Push frequency: 500ms"
OKX_CHANNEL = "liquidation-orders"


@dataclass(frozen=True)
class Instrument:
    """One BTC contract followed on a venue (the shared vocabulary of issue 14)."""

    venue: str
    symbol: str  # as the venue writes it
    market: str  # usdm / coinm (Binance), linear / inverse (Bybit), SWAP (OKX instType)
    contract_type: str  # linear | inverse
    quantity_unit: str  # BTC | contracts | USD
    contract_size: float  # per unit of quantity: BTC (linear) or USD (inverse)
    qty_decimals: int  # the lot: 10**-qty_decimals units
    price_tick: float
    price_decimals: int  # as the venue prints prices
    share: float  # leveraged book as a multiple of OKX BTC-USDT-SWAP's (same cohorts, own scale)
    first_day: dt.date
    family: str = ""  # Binance COIN-M pair / OKX instFamily (= uly)

    @property
    def stream(self) -> str:
        """The websocket endpoint carrying it (the demo server's path prefix)."""
        return "okx" if self.venue == "okx" else f"{self.venue}-{self.market}"


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("binance", "BTCUSDT", "usdm", "linear", "BTC", 1.0, 3, 0.1, 2, 1.3, dt.date(2019, 9, 10)),
    Instrument("binance", "BTCUSD_PERP", "coinm", "inverse", "contracts", 100.0, 0, 0.1, 1, 0.25,
               dt.date(2020, 8, 10), family="BTCUSD"),
    Instrument("bybit", "BTCUSDT", "linear", "linear", "BTC", 1.0, 3, 0.1, 2, 1.0, dt.date(2020, 3, 25)),
    Instrument("bybit", "BTCUSD", "inverse", "inverse", "USD", 1.0, 0, 0.5, 2, 0.2, dt.date(2018, 11, 15)),
    # share 1.0: its orders are DerivativesModel.liquidation_events themselves (the OKX REST feed's)
    Instrument("okx", "BTC-USDT-SWAP", "SWAP", "linear", "contracts", 0.01, 2, 0.1, 1, 1.0, dt.date(2019, 12, 1),
               family="BTC-USDT"),
    Instrument("okx", "BTC-USD-SWAP", "SWAP", "inverse", "contracts", 100.0, 0, 0.1, 1, 0.2, dt.date(2019, 12, 1),
               family="BTC-USD"),
)
# Topics the real venue serves that the demo carries no orders on (Bybit's USDC perpetual): subscribed, then quiet.
BYBIT_QUIET_TOPICS = ("allLiquidation.BTCPERP",)
STREAMS = ("binance-usdm", "binance-coinm", "bybit-linear", "bybit-inverse", "okx")


@dataclass(frozen=True)
class Order:
    """One liquidation order. `price` is the price the venue publishes for it (Binance: the average fill price `ap`;
    Bybit `p` and OKX `bkPx`: the bankruptcy price); `order_price` is Binance's order price `p` (= price elsewhere);
    `loss` is OKX's bankruptcy loss `bkLoss` (USDT on the linear swap, BTC on the inverse one; 0 elsewhere)."""

    venue: str
    symbol: str
    market: str
    contract_type: str
    time_ms: int  # the venue's trade/liquidation time
    side: str  # the position liquidated: long | short
    price: float
    quantity: float  # in quantity_unit, on the venue's lot
    quantity_unit: str
    btc: float
    usd: float
    order_price: float
    loss: float = 0.0


@dataclass(frozen=True)
class Totals:
    orders: int
    usd: float
    btc: float


@dataclass(frozen=True)
class WireFrame:
    send_ms: int  # when the venue pushes it (simulated UTC ms)
    text: str  # the websocket text frame exactly as sent
    orders: tuple[Order, ...]  # the orders it carries


def instrument(venue: str, symbol: str) -> Instrument:
    for inst in INSTRUMENTS:
        if inst.venue == venue and inst.symbol == symbol:
            return inst
    raise ValueError(f"no demo liquidation feed for {venue} {symbol}")


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise ValueError(f"unknown liquidation venue {venue!r}: use one of {', '.join(VENUES)}")


def _round_to(x: np.ndarray, tick: float, decimals: int) -> np.ndarray:
    return np.round(np.round(x / tick) * tick, decimals)


def _fixed(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _compact(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class LiquidationFeeds:
    """The feeds of one demo market (a DerivativesModel), with bounded caches; thread-safe."""

    def __init__(self, derivatives: DerivativesModel | None = None):
        self.derivatives = derivatives or DerivativesModel(MarketModel())
        self._lock = threading.RLock()
        self._orders: OrderedDict[tuple[str, str, dt.date], tuple[Order, ...]] = OrderedDict()
        self._frames: OrderedDict[tuple[str, str, dt.date], tuple[WireFrame, ...]] = OrderedDict()
        self._send_index: OrderedDict[tuple[str, str, dt.date], tuple[tuple[WireFrame, ...], list[int]]] = (
            OrderedDict())

    # ---- ground truth ------------------------------------------------------------------------------------
    def instrument_orders(self, inst: Instrument, day: dt.date) -> tuple[Order, ...]:
        key = (inst.venue, inst.symbol, day)
        with self._lock:
            got = self._orders.get(key)
            if got is None:
                if day < inst.first_day:
                    got = ()
                elif inst.venue == "okx" and inst.symbol == "BTC-USDT-SWAP":
                    got = self._okx_rest_orders(inst, day)
                else:
                    got = self._draw_orders(inst, day)
                self._orders[key] = got
                if len(self._orders) > 256:
                    self._orders.popitem(last=False)
            else:
                self._orders.move_to_end(key)
            return got

    def orders(self, venue: str, day: dt.date) -> list[Order]:
        """Every liquidation order of `venue`'s followed instruments on `day`, by time then symbol."""
        _check_venue(venue)
        out = [o for inst in INSTRUMENTS if inst.venue == venue for o in self.instrument_orders(inst, day)]
        return sorted(out, key=lambda o: (o.time_ms, o.symbol))

    def pushed(self, venue: str, day: dt.date) -> list[Order]:
        """The orders `venue`'s stream carries: Binance's throttled snapshot (per symbol, the last order of each
        second), every order on Bybit and OKX."""
        every = self.orders(venue, day)
        if venue != "binance":
            return every
        last: dict[tuple[str, int], Order] = {}
        for o in every:  # ascending time: the last one of a window wins
            last[(o.symbol, o.time_ms // BINANCE_WINDOW_MS)] = o
        return sorted(last.values(), key=lambda o: (o.time_ms, o.symbol))

    def totals(self, venue: str, day: dt.date, *, pushed: bool = False) -> dict[str, Totals]:
        """{"long", "short", "all"} -> orders, USD, BTC, of every order (default) or of what the stream pushes."""
        return _sum(self.pushed(venue, day) if pushed else self.orders(venue, day))

    def market_totals(self, day: dt.date, *, pushed: bool = False) -> dict[str, Totals]:
        """The market-wide totals of `day`: the three venues together."""
        every = [o for v in VENUES for o in (self.pushed(v, day) if pushed else self.orders(v, day))]
        return _sum(every)

    def _okx_rest_orders(self, inst: Instrument, day: dt.date) -> tuple[Order, ...]:
        ev = self.derivatives.liquidation_events(day)
        out = []
        for ts, sell, contracts, px, loss in zip(ev.ts, ev.sell, ev.contracts, ev.bk_px, ev.loss):
            btc = float(contracts) * inst.contract_size
            out.append(Order("okx", inst.symbol, inst.market, inst.contract_type, int(ts),
                             "long" if sell else "short", float(px), float(contracts), inst.quantity_unit, btc,
                             btc * float(px), float(px), float(loss)))
        return tuple(out)

    def _okx_scale(self, day: dt.date) -> np.ndarray:
        """OKX BTC-USDT-SWAP's open-interest scale (BTC) at each minute of `day`, as DerivativesModel scales its
        liquidation events (log-interpolated between the dated anchors)."""
        anchors = self.derivatives.params.okx_scale
        xs = np.array([a[0].toordinal() for a in anchors], dtype=float)
        ys = np.log([a[1] for a in anchors])
        return np.exp(np.interp(day.toordinal() + (np.arange(MINUTES) + 0.5) / MINUTES, xs, ys))

    def _draw_orders(self, inst: Instrument, day: dt.date) -> tuple[Order, ...]:
        p = self.derivatives.params
        s = self.derivatives.day_state(day)
        g = rng(SEED_LABEL + "/orders", day, inst.venue, inst.symbol)
        factor = math.exp(0.15 * g.standard_normal() - 0.5 * 0.15**2)  # this venue's day vs the others'
        scale = self._okx_scale(day) * inst.share * factor
        cols: list[tuple[np.ndarray, ...]] = []
        for long_side, per_minute in ((True, s.liq_long * scale), (False, s.liq_short * scale)):
            total = float(per_minute.sum())
            if total <= 0:
                continue
            mean = max(p.event_mean_btc * (total / p.event_reference_btc) ** p.event_size_elasticity, 0.02)
            busy = per_minute / max(float(per_minute.max()), 1e-12)
            extra = 0.3 + 2.7 * busy**2  # mean further orders in a burst: more in the busiest minutes
            burst_weight = per_minute / (1.0 + extra)
            bursts = int(g.poisson(float(burst_weight.sum()) / mean))
            if bursts == 0:
                continue
            minute = g.choice(MINUTES, size=bursts, p=burst_weight / burst_weight.sum())
            size_of_burst = 1 + g.poisson(extra[minute])
            count = int(size_of_burst.sum())
            start = np.repeat(minute.astype(np.int64) * MS_PER_MINUTE + g.integers(0, MS_PER_MINUTE, size=bursts),
                              size_of_burst)
            within = g.integers(0, 1_500, size=count)  # a burst's fills within 1.5 s
            within[np.concatenate(([0], np.cumsum(size_of_burst)[:-1]))] = 0
            offset = np.minimum(start + within, MS_PER_DAY - 1)
            a = p.event_pareto_alpha
            x_min = mean * (a - 1) / a
            size_btc = np.minimum(x_min * (1.0 - g.random(count)) ** (-1.0 / a), p.event_max_btc)
            m = offset // MS_PER_MINUTE
            frac = (offset % MS_PER_MINUTE) / MS_PER_MINUTE
            at = s.price[m] * (1 - frac) + s.price[m + 1] * frac
            fill = at * (1.0 + g.normal(0.0, 0.0002, size=count))  # the fill against the book, near the index
            off = g.uniform(*p.bankruptcy_offset, size=count)
            bankrupt = at * (1 - off if long_side else 1 + off)
            busy_at = busy[np.minimum(m, MINUTES - 1)]
            has_loss = g.random(count) < p.loss_share_at_cascade * busy_at**2
            loss_frac = g.uniform(0, 0.003, size=count)
            cols.append((offset, np.full(count, long_side), size_btc, fill, bankrupt, has_loss, loss_frac))
        if not cols:
            return ()
        offset, is_long, size_btc, fill, bankrupt, has_loss, loss_frac = (np.concatenate(c) for c in zip(*cols))
        order = np.argsort(offset, kind="stable")
        offset, is_long, size_btc, fill, bankrupt, has_loss, loss_frac = (
            x[order] for x in (offset, is_long, size_btc, fill, bankrupt, has_loss, loss_frac))
        ts = day_ms(day) + offset
        for i in range(1, len(ts)):  # one order per ms and instrument (keys stay unique), within the day
            if ts[i] <= ts[i - 1]:
                ts[i] = ts[i - 1] + 1
        ts = np.minimum(ts, day_ms(day) + MS_PER_DAY - 1)

        # The price the venue publishes: Binance the average fill price (its order price p is the bankruptcy
        # price), Bybit and OKX the bankruptcy price.
        published = fill if inst.venue == "binance" else bankrupt
        price = _round_to(published, inst.price_tick, inst.price_decimals)
        order_price = _round_to(bankrupt, inst.price_tick, inst.price_decimals)
        lot = 10.0 ** -inst.qty_decimals
        if inst.contract_type == "linear":
            qty = np.maximum(np.round(size_btc / inst.contract_size, inst.qty_decimals), lot)
            btc = qty * inst.contract_size
            usd = btc * price
        else:
            qty = np.maximum(np.round(size_btc * price / inst.contract_size, inst.qty_decimals), lot)
            usd = qty * inst.contract_size
            btc = usd / price
        loss = np.where(has_loss, np.round(btc * loss_frac, 8), 0.0) if inst.venue == "okx" else np.zeros(len(ts))
        return tuple(
            Order(inst.venue, inst.symbol, inst.market, inst.contract_type, int(ts[i]),
                  "long" if is_long[i] else "short", float(price[i]), float(qty[i]), inst.quantity_unit,
                  float(btc[i]), float(usd[i]), float(order_price[i]), float(loss[i]))
            for i in range(len(ts))
        )

    # ---- wire frames -------------------------------------------------------------------------------------
    def frames(self, stream: str, topic: str, day: dt.date) -> tuple[WireFrame, ...]:
        """The frames `stream` pushes for `topic` for the orders of `day`, by send time (a frame for the day's last
        moments may be sent just after midnight). Topics: Binance `!forceOrder@arr` or `<symbol>@forceOrder`
        (lower case, as Binance names streams); Bybit `allLiquidation.<symbol>`; OKX the instType (`SWAP`;
        `FUTURES`, `MARGIN`, `OPTION`: the demo lists no such BTC contract, so those are silent). An unknown topic
        is a ValueError."""
        key = (stream, topic, day)
        with self._lock:
            got = self._frames.get(key)
            if got is None:
                got = self._frames[key] = self._build_frames(stream, topic, day)
                if len(self._frames) > 128:
                    self._frames.popitem(last=False)
            else:
                self._frames.move_to_end(key)
            return got

    def topic_instruments(self, stream: str, topic: str) -> tuple[Instrument, ...]:
        """The instruments a topic of a stream carries (a ValueError names the stream and topic if none)."""
        on_stream = [i for i in INSTRUMENTS if i.stream == stream]
        if not on_stream:
            raise ValueError(f"unknown liquidation stream {stream!r}: use one of {', '.join(STREAMS)}")
        venue = on_stream[0].venue
        if venue == "binance":
            if topic == "!forceOrder@arr":
                return tuple(on_stream)
            picked = [i for i in on_stream if topic == f"{i.symbol.lower()}@forceOrder"]
        elif venue == "bybit":
            if topic in BYBIT_QUIET_TOPICS:
                return ()
            picked = [i for i in on_stream if topic == f"allLiquidation.{i.symbol}"]
        else:
            if topic in ("FUTURES", "MARGIN", "OPTION"):  # the channel's other instTypes: no demo BTC contract
                return ()
            picked = [i for i in on_stream if topic == i.market]
        if not picked:
            raise ValueError(f"{stream}: no demo liquidation topic {topic!r}")
        return tuple(picked)

    def _build_frames(self, stream: str, topic: str, day: dt.date) -> tuple[WireFrame, ...]:
        insts = self.topic_instruments(stream, topic)
        if not insts:
            return ()
        venue = insts[0].venue
        g = rng(SEED_LABEL + "/latency", day, stream, topic)
        out: list[WireFrame] = []
        if venue == "binance":
            symbols = {i.symbol for i in insts}
            kept = [o for o in self.pushed("binance", day) if o.symbol in symbols]
            latency = g.integers(1, 30, size=len(kept))
            for o, lag in zip(kept, latency):
                send = (o.time_ms // BINANCE_WINDOW_MS + 1) * BINANCE_WINDOW_MS + int(lag)
                out.append(WireFrame(send, _binance_frame(instrument("binance", o.symbol), o, send), (o,)))
        elif venue == "bybit":
            (inst,) = insts
            windows: OrderedDict[int, list[Order]] = OrderedDict()
            for o in self.instrument_orders(inst, day):
                windows.setdefault(o.time_ms // BYBIT_PUSH_MS + 1, []).append(o)  # pushed as its window ends
            latency = g.integers(0, 40, size=len(windows))
            for (w, batch), lag in zip(windows.items(), latency):
                send = w * BYBIT_PUSH_MS + int(lag)
                data = [{"T": o.time_ms, "s": o.symbol, "S": "Buy" if o.side == "long" else "Sell",
                         "v": _fixed(o.quantity, inst.qty_decimals), "p": _fixed(o.price, inst.price_decimals)}
                        for o in batch]
                text = _compact({"topic": topic, "type": "snapshot", "ts": send, "data": data})
                out.append(WireFrame(send, text, tuple(batch)))
        else:
            merged = sorted((o for i in insts for o in self.instrument_orders(i, day)),
                            key=lambda o: (o.time_ms, o.symbol))
            latency = g.integers(5, 400, size=len(merged))  # pushes are not strictly in ts order
            for o, lag in zip(merged, latency):
                send = o.time_ms + int(lag)
                out.append(WireFrame(send, _okx_frame(instrument("okx", o.symbol), o, topic), (o,)))
        out.sort(key=lambda f: (f.send_ms, f.orders[0].time_ms, f.orders[0].symbol))
        return tuple(out)

    def next_frame(self, stream: str, topic: str, after_ms: int) -> WireFrame | None:
        """The first frame of `topic` sent strictly after `after_ms` (looking up to a week ahead; None if the
        instruments have no order then, e.g. before their listing)."""
        day = date_of_ms(after_ms)
        best: WireFrame | None = None
        for k in range(-1, 8):
            d = day + dt.timedelta(days=k)
            if best is not None and best.send_ms < day_ms(d):
                break  # a day's frames are all sent after its start: later days cannot beat `best`
            if d < self.derivatives.market.params.first_day:
                continue
            frames, sends = self._indexed(stream, topic, d)
            i = bisect.bisect_right(sends, after_ms)
            if i < len(frames) and (best is None or frames[i].send_ms < best.send_ms):
                best = frames[i]
        return best

    def frames_sent_at(self, stream: str, topic: str, send_ms: int) -> list[WireFrame]:
        """Every frame of `topic` sent at exactly `send_ms`, in send order (several orders may be pushed in the same
        ms: a server that resumes after one of them must not skip the others)."""
        day = date_of_ms(send_ms)
        out: list[WireFrame] = []
        for d in (day - dt.timedelta(days=1), day):
            if d < self.derivatives.market.params.first_day:
                continue
            frames, sends = self._indexed(stream, topic, d)
            out += frames[bisect.bisect_left(sends, send_ms):bisect.bisect_right(sends, send_ms)]
        return out

    def _indexed(self, stream: str, topic: str, day: dt.date) -> tuple[tuple[WireFrame, ...], list[int]]:
        key = (stream, topic, day)
        with self._lock:
            got = self._send_index.get(key)
            if got is None or got[0] is not self.frames(stream, topic, day):
                frames = self.frames(stream, topic, day)
                got = self._send_index[key] = (frames, [f.send_ms for f in frames])
                if len(self._send_index) > 128:
                    self._send_index.popitem(last=False)
            return got


def _binance_frame(inst: Instrument, o: Order, event_ms: int) -> str:
    qty = _fixed(o.quantity, inst.qty_decimals)
    body: dict[str, object] = {"s": o.symbol}
    if inst.market == "coinm":
        body["ps"] = inst.family
    body.update({
        "S": "SELL" if o.side == "long" else "BUY",  # the liquidation order's side: SELL closes a long
        "o": "LIMIT", "f": "IOC", "q": qty,
        "p": _fixed(o.order_price, inst.price_decimals), "ap": _fixed(o.price, inst.price_decimals),
        "X": "FILLED", "l": qty, "z": qty, "T": o.time_ms,
    })
    return _compact({"e": "forceOrder", "E": event_ms, "o": body})


def _okx_frame(inst: Instrument, o: Order, inst_type: str) -> str:
    # Formatted exactly as endpoints_okx formats the REST details, so the same order reads the same both ways.
    detail = {
        "bkLoss": _trim(o.loss, 4 if inst.contract_type == "linear" else 8),
        "bkPx": _fixed(o.price, inst.price_decimals),
        "ccy": "",
        "posSide": o.side,
        "side": "sell" if o.side == "long" else "buy",
        "sz": _trim(o.quantity, 2) if inst.contract_type == "linear" else _fixed(o.quantity, 0),
        "ts": str(o.time_ms),
    }
    entry = {"details": [detail], "instFamily": inst.family, "instId": inst.symbol, "instType": inst_type,
             "uly": inst.family}
    return _compact({"arg": {"channel": OKX_CHANNEL, "instType": inst_type}, "data": [entry]})


def _sum(orders: list[Order]) -> dict[str, Totals]:
    out = {}
    for side in ("long", "short", "all"):
        picked = [o for o in orders if side == "all" or o.side == side]
        out[side] = Totals(len(picked), float(sum(o.usd for o in picked)), float(sum(o.btc for o in picked)))
    return out


_DEFAULT: LiquidationFeeds | None = None
_DEFAULT_LOCK = threading.Lock()


def default_feeds() -> LiquidationFeeds:
    """The feeds of the default demo market (one per process)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = LiquidationFeeds()
        return _DEFAULT


def orders(venue: str, day: dt.date) -> list[Order]:
    """Every liquidation order of `venue` on `day` (the default demo market)."""
    return default_feeds().orders(venue, day)


def pushed(venue: str, day: dt.date) -> list[Order]:
    """What `venue`'s stream carries of them (Binance: throttled)."""
    return default_feeds().pushed(venue, day)


def totals(venue: str, day: dt.date, *, pushed: bool = False) -> dict[str, Totals]:
    return default_feeds().totals(venue, day, pushed=pushed)


def market_totals(day: dt.date, *, pushed: bool = False) -> dict[str, Totals]:
    return default_feeds().market_totals(day, pushed=pushed)
