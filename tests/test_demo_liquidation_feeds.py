"""The demo's liquidation feeds: ground truth per venue, the venues' wire formats, and the websocket server on
127.0.0.1 driven through a real `websockets` client (subscribe, acks, pings, refusals, faults, simulated time)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import json
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from pipelines.demo import liquidation_feeds as lf
from pipelines.demo.derivatives import DerivativesModel
from pipelines.demo.market import MarketModel
from pipelines.demo.server import DemoApiServer
from pipelines.demo.ws_server import DemoLiquidationStreams, Faults, SimClock

BREAK = lf.BREAK_DAY  # 2025-11-11
QUIET = dt.date(2025, 11, 4)
CASCADE_HOUR = dt.datetime(2025, 11, 11, 13, 0, tzinfo=dt.UTC)  # ~500 Binance orders in the hour
HOUR_MS = 3_600_000
FEEDS = lf.default_feeds()


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def streams(start: dt.datetime = CASCADE_HOUR, speed: float = 3600, **kwargs) -> DemoLiquidationStreams:
    # Warm the day's frames first, so the clock does not run while they are computed.
    for stream, topic in (("binance-usdm", "!forceOrder@arr"), ("binance-coinm", "!forceOrder@arr"),
                          ("bybit-linear", "allLiquidation.BTCUSDT"), ("bybit-inverse", "allLiquidation.BTCUSD"),
                          ("okx", "SWAP")):
        FEEDS.next_frame(stream, topic, ms(start))
    return DemoLiquidationStreams(SimClock(start, speed), **kwargs)


async def recv_json(ws, timeout: float = 5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def data_frames(ws, count: int, timeout: float = 10.0) -> list[str]:
    """The next `count` text frames (each within `timeout`)."""
    return [await asyncio.wait_for(ws.recv(), timeout) for _ in range(count)]


async def frames_for(ws, seconds: float) -> list[str]:
    """Every text frame received during `seconds` of real time."""
    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            out.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return out


# ---- ground truth ------------------------------------------------------------------------------------------------

def test_the_break_day_is_hundreds_of_millions_mostly_longs_and_quiet_days_are_small():
    total = lf.market_totals(BREAK)
    assert 1e8 <= total["all"].usd < 1e9, total  # the report's order: "$865M in 24 hours"
    assert total["long"].usd / total["all"].usd > 0.8
    for venue in lf.VENUES:  # every venue takes part, each mostly longs
        t = lf.totals(venue, BREAK)
        assert t["all"].usd > 2e7 and t["long"].usd / t["all"].usd > 0.8, (venue, t)
    quiet = lf.market_totals(QUIET)
    assert 0 < quiet["all"].usd < 0.03 * total["all"].usd, quiet
    # what the streams carry: Binance drops orders (throttled), the others none
    assert lf.totals("binance", BREAK, pushed=True)["all"].orders < lf.totals("binance", BREAK)["all"].orders
    for venue in ("bybit", "okx"):
        assert lf.pushed(venue, BREAK) == lf.orders(venue, BREAK)


def test_sizes_are_in_each_venues_unit_and_convert_to_btc_and_usd():
    for inst in lf.INSTRUMENTS:
        got = FEEDS.instrument_orders(inst, BREAK)
        assert len(got) > 100, inst
        for o in got[:200]:
            assert o.quantity_unit == inst.quantity_unit and o.quantity > 0
            if inst.contract_type == "linear":
                assert o.btc == pytest.approx(o.quantity * inst.contract_size)
                assert o.usd == pytest.approx(o.btc * o.price)
            else:  # inverse: USD face value, BTC = USD / price
                assert o.usd == pytest.approx(o.quantity * inst.contract_size)
                assert o.btc == pytest.approx(o.usd / o.price)
                assert o.quantity == int(o.quantity)
            # a long is liquidated below the market: the bankruptcy price is under Binance's fill price
            if inst.venue == "binance":
                assert (o.order_price < o.price) == (o.side == "long")
        times = [o.time_ms for o in got]
        assert times == sorted(times) and len(set(times)) == len(times)  # unique per ms and instrument
        assert all(lf.date_of_ms(t) == BREAK for t in times)
    by_symbol = {(i.venue, i.symbol): i for i in lf.INSTRUMENTS}
    assert by_symbol[("bybit", "BTCUSD")].quantity_unit == "USD"
    assert by_symbol[("binance", "BTCUSD_PERP")].contract_size == 100.0


def test_okx_usdt_swap_orders_are_the_rest_endpoints_events():
    events = DerivativesModel(MarketModel()).liquidation_events(BREAK)
    got = FEEDS.instrument_orders(lf.instrument("okx", "BTC-USDT-SWAP"), BREAK)
    assert [o.time_ms for o in got] == events.ts.tolist()
    assert [o.side == "long" for o in got] == events.sell.tolist()
    assert [o.quantity for o in got] == events.contracts.tolist()
    assert [o.price for o in got] == events.bk_px.tolist()
    assert [o.loss for o in got] == events.loss.tolist()


def test_binance_pushes_at_most_one_order_per_symbol_and_second_and_the_truth_has_more():
    every, kept = lf.orders("binance", BREAK), lf.pushed("binance", BREAK)
    per_window = collections.Counter((o.symbol, o.time_ms // 1000) for o in every)
    assert max(per_window.values()) > 1  # the cascade's bursts
    assert collections.Counter((o.symbol, o.time_ms // 1000) for o in kept).most_common(1)[0][1] == 1
    assert set(kept) <= set(every) and len(kept) == len(per_window)
    # the pushed one is the window's latest
    latest = {}
    for o in every:
        latest[(o.symbol, o.time_ms // 1000)] = max(latest.get((o.symbol, o.time_ms // 1000), 0), o.time_ms)
    assert all(o.time_ms == latest[(o.symbol, o.time_ms // 1000)] for o in kept)
    frames = FEEDS.frames("binance-usdm", "!forceOrder@arr", BREAK)
    assert [json.loads(f.text)["o"]["T"] for f in frames] == [o.time_ms for o in kept if o.symbol == "BTCUSDT"]


def test_same_day_same_frames_in_a_fresh_model_and_another_process():
    fresh = lf.LiquidationFeeds(DerivativesModel(MarketModel()))
    day = dt.date(2025, 10, 21)
    digest = hashlib.sha256()
    for stream, topic in (("binance-usdm", "!forceOrder@arr"), ("binance-coinm", "!forceOrder@arr"),
                          ("bybit-linear", "allLiquidation.BTCUSDT"), ("bybit-inverse", "allLiquidation.BTCUSD"),
                          ("okx", "SWAP")):
        mine = FEEDS.frames(stream, topic, day)
        assert [f.text for f in fresh.frames(stream, topic, day)] == [f.text for f in mine]
        for f in mine:
            digest.update(f"{f.send_ms} {f.text}\n".encode())
    script = (
        "import datetime as dt, hashlib\n"
        "from pipelines.demo import liquidation_feeds as lf\n"
        "h = hashlib.sha256()\n"
        "for s, t in (('binance-usdm', '!forceOrder@arr'), ('binance-coinm', '!forceOrder@arr'),"
        " ('bybit-linear', 'allLiquidation.BTCUSDT'), ('bybit-inverse', 'allLiquidation.BTCUSD'), ('okx', 'SWAP')):\n"
        "    for f in lf.default_feeds().frames(s, t, dt.date(2025, 10, 21)):\n"
        "        h.update(f'{f.send_ms} {f.text}\\n'.encode())\n"
        "print(h.hexdigest())\n"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == digest.hexdigest()


def test_unknown_venue_or_topic_is_named():
    with pytest.raises(ValueError, match="unknown liquidation venue 'kraken'"):
        lf.orders("kraken", BREAK)
    with pytest.raises(ValueError, match="bybit-linear: no demo liquidation topic 'allLiquidation.ETHUSDT'"):
        FEEDS.frames("bybit-linear", "allLiquidation.ETHUSDT", BREAK)
    with pytest.raises(ValueError, match="no demo liquidation endpoint for kraken/usdm"):
        DemoLiquidationStreams(SimClock(CASCADE_HOUR)).url_for("kraken", "usdm")


# ---- the server: each venue's protocol ----------------------------------------------------------------------------

def test_binance_pushes_force_order_events_without_subscribing():
    async def run(server):
        async with connect(server.url_for("binance", "usdm")) as usdm, \
                connect(server.url_for("binance", "coinm")) as coinm:
            return await data_frames(usdm, 5), await data_frames(coinm, 3)

    with streams() as server:
        assert server.base_url.startswith("ws://127.0.0.1:")
        usdm, coinm = asyncio.run(run(server))
    for text, symbol in [(t, "BTCUSDT") for t in usdm] + [(t, "BTCUSD_PERP") for t in coinm]:
        event = json.loads(text)
        assert list(event) == ["e", "E", "o"] and event["e"] == "forceOrder"
        o = event["o"]
        keys = ["s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T"]
        assert list(o) == (keys[:1] + ["ps"] + keys[1:] if symbol == "BTCUSD_PERP" else keys)
        assert o["s"] == symbol and o["S"] in ("SELL", "BUY") and (o["o"], o["f"], o["X"]) == ("LIMIT", "IOC", "FILLED")
        assert o["q"] == o["l"] == o["z"] and isinstance(o["T"], int) and 0 < event["E"] - o["T"] <= 1030
        if symbol == "BTCUSD_PERP":
            assert o["ps"] == "BTCUSD" and o["q"].isdigit()  # contracts of 100 USD
        else:
            assert len(o["q"].split(".")[1]) == 3  # BTC, on the 0.001 lot
        assert event["E"] >= ms(CASCADE_HOUR)
    # the frames are the throttled truth, in order, from the connection's moment on
    truth = [o for o in lf.pushed("binance", BREAK) if o.symbol == "BTCUSDT" and o.time_ms >= ms(CASCADE_HOUR) - 1000]
    got = [json.loads(t)["o"]["T"] for t in usdm]
    start = [o.time_ms for o in truth].index(got[0])
    assert got == [o.time_ms for o in truth[start:start + 5]]


def test_bybit_subscribe_ack_data_and_ping():
    async def run(server):
        async with connect(server.url_for("bybit", "linear")) as ws:
            await ws.send(json.dumps({"req_id": "liq-1", "op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}))
            ack = await recv_json(ws)
            data = [json.loads(t) for t in await data_frames(ws, 4)]
            await ws.send(json.dumps({"req_id": "hb-1", "op": "ping"}))
            for _ in range(200):  # data frames may come first
                reply = await recv_json(ws)
                if reply.get("op") == "ping":
                    return ack, data, reply
        raise AssertionError("no pong")

    with streams() as server:
        ack, data, pong = asyncio.run(run(server))
        assert server.connections("bybit-linear") == 1
    conn_id = ack["conn_id"]
    assert ack == {"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": "liq-1", "op": "subscribe"}
    assert pong == {"success": True, "ret_msg": "pong", "conn_id": conn_id, "req_id": "hb-1", "op": "ping"}
    truth = {o.time_ms: o for o in lf.orders("bybit", BREAK) if o.symbol == "BTCUSDT"}
    for frame in data:
        assert list(frame) == ["topic", "type", "ts", "data"]
        assert frame["topic"] == "allLiquidation.BTCUSDT" and frame["type"] == "snapshot"
        assert frame["ts"] >= ms(CASCADE_HOUR) and frame["data"]
        for item in frame["data"]:
            assert list(item) == ["T", "s", "S", "v", "p"]
            order = truth[item["T"]]
            assert item["s"] == "BTCUSDT" and item["S"] == ("Buy" if order.side == "long" else "Sell")
            assert float(item["v"]) == order.quantity and float(item["p"]) == order.price
            # pushed at the end of its 500 ms window
            assert item["T"] // 500 + 1 == frame["ts"] // 500 and item["T"] < frame["ts"]


def test_bybit_inverse_and_okx_usd_swap_speak_usd():
    async def run(server):
        async with connect(server.url_for("bybit", "inverse")) as bybit, \
                connect(server.url_for("okx", "SWAP")) as okx:
            await bybit.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSD"]}))
            await okx.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "SWAP"}]}))
            bybit_ack, okx_ack = await recv_json(bybit), await recv_json(okx)
            okx_frames = [json.loads(t) for t in await data_frames(okx, 40)]
            return bybit_ack, json.loads((await data_frames(bybit, 1))[0]), okx_ack, okx_frames

    with streams() as server:
        bybit_ack, bybit_frame, okx_ack, okx_frames = asyncio.run(run(server))
    assert bybit_ack["success"] is True and bybit_ack["req_id"] == ""
    item = bybit_frame["data"][0]
    assert item["s"] == "BTCUSD" and item["v"].isdigit()  # USD
    assert okx_ack == {"event": "subscribe", "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                       "connId": okx_ack["connId"]}
    usd_swap = [f["data"][0] for f in okx_frames if f["data"][0]["instId"] == "BTC-USD-SWAP"]
    assert usd_swap, "the SWAP subscription carries BTC-USD-SWAP too"
    assert all(e["instFamily"] == e["uly"] == "BTC-USD" and e["details"][0]["sz"].isdigit() for e in usd_swap)


def test_okx_stream_and_rest_poll_see_the_same_orders():
    """The stream's BTC-USDT-SWAP details are the REST endpoint's, byte for byte (the collector de-duplicates on
    that): the newest 100 REST details at 13:30 all came through the stream since 13:00."""
    now = CASCADE_HOUR + dt.timedelta(minutes=30)

    async def run(server):
        async with connect(server.url_for("okx", "SWAP")) as ws:
            await ws.send(json.dumps({"id": "42", "op": "subscribe",
                                      "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}))
            ack = await recv_json(ws)
            got = []
            while True:
                frame = await recv_json(ws)
                got.append(frame)
                if int(frame["data"][0]["details"][0]["ts"]) > ms(now) + 1000:
                    return ack, got

    with streams() as server:
        ack, frames = asyncio.run(run(server))
    assert ack == {"id": "42", "event": "subscribe", "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                   "connId": ack["connId"]}
    for frame in frames:
        assert list(frame) == ["arg", "data"] and frame["arg"] == {"channel": "liquidation-orders", "instType": "SWAP"}
        (entry,) = frame["data"]
        assert list(entry) == ["details", "instFamily", "instId", "instType", "uly"]
        (detail,) = entry["details"]
        assert list(detail) == ["bkLoss", "bkPx", "ccy", "posSide", "side", "sz", "ts"]
        assert (detail["posSide"], detail["side"]) in (("long", "sell"), ("short", "buy"))
    streamed = {d["ts"]: d for f in frames for e in f["data"] if e["instId"] == "BTC-USDT-SWAP" for d in e["details"]}
    with DemoApiServer(lambda: now) as rest:
        body = httpx.get(rest.base_url + "/api/v5/public/liquidation-orders",
                         params={"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled"}).json()
    details = body["data"][0]["details"]
    assert len(details) == 100
    assert all(int(d["ts"]) > ms(CASCADE_HOUR) for d in details)
    assert [streamed[d["ts"]] for d in details] == details


def test_okx_ping_pong_and_silence_when_pings_are_not_answered():
    async def run(server):
        async with connect(server.url_for("okx", "SWAP")) as ws:
            await ws.send("ping")
            return await asyncio.wait_for(ws.recv(), 5)

    with streams() as server:
        assert asyncio.run(run(server)) == "pong"

    async def unanswered(server, venue, market, ping):
        async with connect(server.url_for(venue, market)) as ws:
            await ws.send(ping)
            return await frames_for(ws, 0.5)

    with streams(faults={"okx": Faults(answer_pings=False), "bybit-linear": Faults(answer_pings=False)}) as server:
        assert asyncio.run(unanswered(server, "okx", "SWAP", "ping")) == []
        assert asyncio.run(unanswered(server, "bybit", "linear", json.dumps({"op": "ping"}))) == []
        assert server.sent(kinds=("pong",)) == []


def test_refused_subscriptions_get_the_venues_error_frames():
    async def run(server):
        async with connect(server.url_for("bybit", "linear")) as bybit, connect(server.url_for("okx", "SWAP")) as okx:
            await bybit.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSD"]}))  # inverse's topic
            bybit_err = await recv_json(bybit)
            await okx.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidations", "instType": "SWAP"}]}))
            okx_err = await recv_json(okx)
            await okx.send("{not json")
            okx_bad = await recv_json(okx)
            after = await frames_for(bybit, 0.3) + await frames_for(okx, 0.3)
            return bybit_err, okx_err, okx_bad, after

    with streams() as server:
        bybit_err, okx_err, okx_bad, after = asyncio.run(run(server))
    assert bybit_err == {"success": False, "ret_msg": "error:handler not found,topic:allLiquidation.BTCUSD",
                         "conn_id": bybit_err["conn_id"], "req_id": "", "op": "subscribe"}
    assert okx_err == {"event": "error", "code": "60018",
                       "msg": "Wrong URL or channel:liquidations,instType:SWAP doesn't exist. Please use the correct "
                              "URL, channel and parameters referring to API document.", "connId": okx_err["connId"]}
    assert okx_bad == {"event": "error", "code": "60012", "msg": "Invalid request: {not json",
                       "connId": okx_bad["connId"]}
    assert after == []  # nothing subscribed, nothing pushed


def test_the_refuse_subscription_fault_refuses_valid_topics_and_binance_handshakes():
    async def run(server):
        async with connect(server.url_for("bybit", "linear")) as bybit, connect(server.url_for("okx", "SWAP")) as okx:
            await bybit.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}))
            await okx.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "SWAP"}]}))
            return await recv_json(bybit), await recv_json(okx), await frames_for(bybit, 0.3)

    refuse = Faults(refuse_subscription=True)
    with streams(faults={"bybit-linear": refuse, "okx": refuse, "binance-usdm": refuse}) as server:
        bybit_err, okx_err, after = asyncio.run(run(server))
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(connect(server.url_for("binance", "usdm")).__aenter__())
        with pytest.raises(InvalidStatus) as missing:
            asyncio.run(connect(server.base_url + "/binance-usdm/ws/ethusdt@forceOrder").__aenter__())
    assert bybit_err["success"] is False and "allLiquidation.BTCUSDT" in bybit_err["ret_msg"]
    assert okx_err["event"] == "error" and okx_err["code"] == "60018"
    assert after == []
    assert refused.value.response.status_code == 451
    assert missing.value.response.status_code == 404


# ---- faults: disconnects, duplicates, malformed frames ------------------------------------------------------------

def test_a_dropped_connection_then_duplicates_after_the_reconnect():
    async def session(server):
        async with connect(server.url_for("bybit", "linear")) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}))
            assert (await recv_json(ws))["success"] is True
            got = []
            try:
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), 5))
                    if len(got) >= 12:
                        return got, None
            except ConnectionClosed as closed:
                return got, closed

    faults = Faults(drop_after_frames=5, resend_on_reconnect=3)
    with streams(faults={"bybit-linear": faults}) as server:
        first, closed = asyncio.run(session(server))
        second, _ = asyncio.run(session(server))
        assert server.connections("bybit-linear") == 2
        kinds = [(f.connection, f.kind) for f in server.sent("bybit-linear") if f.kind != "ack"]
    assert len(first) == 5 and isinstance(closed, ConnectionClosedError)  # aborted: no close frame
    assert closed.rcvd is None
    assert second[:3] == first[-3:]  # the duplicates
    resumed = [json.loads(t)["ts"] for t in second[3:]]
    assert resumed and min(resumed) > json.loads(first[-1])["ts"] and resumed == sorted(resumed)
    read = [(1, "data")] * 5 + [(2, "resent")] * 3 + [(2, "data")] * 9
    # What the client read, then perhaps a few more frames the server pushed while the client was closing.
    assert kinds[:len(read)] == read and set(kinds[len(read):]) <= {(2, "data")}


def test_a_malformed_frame_is_injected_before_the_real_one():
    async def run(server):
        async with connect(server.url_for("okx", "SWAP")) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "SWAP"}]}))
            await recv_json(ws)
            return await data_frames(ws, 4)

    with streams(faults={"okx": Faults(malformed_at_frame=2)}) as server:
        got = asyncio.run(run(server))
        data = [f.text for f in server.sent("okx", kinds=("data",))]
    json.loads(got[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(got[1])
    assert got[2].startswith(got[1]) and got[2] == data[1]  # the real frame follows its torn copy
    assert [got[0], got[2], got[3]] == data[:3]


# ---- simulated time --------------------------------------------------------------------------------------------

def test_binance_stream_over_a_cascade_hour_is_the_throttled_truth_on_time():
    """A cascade hour in about a second: every frame pushed once its window closed, never early, and exactly the
    throttled orders; the truth of that hour holds more orders than the stream."""
    end = ms(CASCADE_HOUR) + HOUR_MS

    async def run(server):
        async with connect(server.url_for("binance", "usdm")) as ws:
            got = []
            while True:  # until the simulated clock has passed the hour (the next orders come hours later)
                try:
                    text = await asyncio.wait_for(ws.recv(), server.clock.real_seconds_until(end) + 0.2)
                except TimeoutError:
                    return got
                got.append(json.loads(text))

    with streams() as server:
        events = asyncio.run(run(server))
        sent = server.sent("binance-usdm", kinds=("data",))
    assert all(f.sim_ms >= f.push_ms for f in sent)  # never before its push time
    windows = collections.Counter(e["o"]["T"] // 1000 for e in events)
    assert windows.most_common(1)[0][1] == 1 and all(e["E"] >= (e["o"]["T"] // 1000 + 1) * 1000 for e in events)
    first = events[0]["E"]
    expected = [f.orders[0].time_ms for f in FEEDS.frames("binance-usdm", "!forceOrder@arr", BREAK)
                if first <= f.send_ms <= end]
    assert [e["o"]["T"] for e in events] == expected
    assert set(expected) <= {o.time_ms for o in lf.pushed("binance", BREAK)}
    truth = [o for o in lf.orders("binance", BREAK) if o.symbol == "BTCUSDT" and first - 1000 <= o.time_ms < end]
    assert len(events) > 100 and len(truth) > len(events) * 1.2


def test_binance_connection_ends_after_24_simulated_hours():
    async def run(server):
        async with connect(server.url_for("binance", "coinm")) as ws:
            count = 0
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
                    count += 1
            except ConnectionClosedOK as closed:
                return count, closed

    start = dt.datetime(2025, 11, 11, tzinfo=dt.UTC)
    with streams(start=start, speed=400_000) as server:
        count, closed = asyncio.run(run(server))
        first = server.sent("binance-coinm")[0]
        last = server.sent("binance-coinm")[-1]
    assert count > 100 and closed.rcvd.code == 1000 and "24 h" in closed.rcvd.reason
    assert last.push_ms - first.sim_ms <= 24 * HOUR_MS


def test_local_url_maps_the_venues_real_urls():
    with streams() as server:
        base = server.base_url
        usdm = server.local_url("wss://fstream.binance.com/ws/!forceOrder@arr")
        assert usdm == base + "/binance-usdm/ws/!forceOrder@arr"
        assert server.local_url("wss://dstream.binance.com/ws/!forceOrder@arr") == server.url_for("binance", "coinm")
        assert server.local_url("wss://stream.bybit.com/v5/public/inverse") == server.url_for("bybit", "inverse")
        assert server.local_url("wss://ws.okx.com:8443/ws/v5/public") == server.url_for("okx", "SWAP")
        with pytest.raises(ValueError, match="no demo liquidation endpoint for wss://example.com/x"):
            server.local_url("wss://example.com/x")


# ---- what the collector's parsers read from them ---------------------------------------------------------------

def test_the_stream_parsers_read_every_frame_back_to_the_pushed_orders():
    """pipelines.sources.liquidation_streams (the parsers the warehouse uses) reads the break day's frames back to
    exactly the orders each stream carries: sides, instruments, times, BTC and USD."""
    from pipelines.sources import liquidation_streams as ls

    topics = {"binance": [("binance-usdm", "!forceOrder@arr"), ("binance-coinm", "!forceOrder@arr")],
              "bybit": [("bybit-linear", "allLiquidation.BTCUSDT"), ("bybit-inverse", "allLiquidation.BTCUSD")],
              "okx": [("okx", "SWAP")]}
    for venue, pairs in topics.items():
        rows = []
        for stream, topic in pairs:
            for frame in FEEDS.frames(stream, topic, BREAK):
                received = dt.datetime.fromtimestamp(frame.send_ms / 1000, dt.UTC)
                parsed = ls.parse_frame(venue, frame.text, received)
                assert parsed.frame.kind == ls.Kind.DATA and not parsed.skipped
                rows.extend(parsed.rows)
        truth = sorted(lf.pushed(venue, BREAK), key=lambda o: (o.symbol, o.time_ms))
        rows.sort(key=lambda r: (r["instrument"], r["event_time"]))
        assert len(rows) == len(truth) == len({r["order_key"] for r in rows})
        for row, order in zip(rows, truth):
            assert (row["instrument"], row["side"], row["quantity_unit"]) == (order.symbol, order.side,
                                                                               order.quantity_unit)
            assert row["event_time"] == dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=order.time_ms)
            assert row["btc"] == pytest.approx(order.btc, rel=1e-12)
            assert row["usd"] == pytest.approx(order.usd, rel=1e-12)


def test_the_stream_parsers_classify_the_servers_acks_pongs_and_refusals():
    from pipelines.sources import liquidation_streams as ls

    async def run(server):
        # max_queue=None: frames left unread must not stall the closing handshake
        async with connect(server.url_for("bybit", "linear"), max_queue=None) as bybit, \
                connect(server.url_for("okx", "SWAP"), max_queue=None) as okx:
            await bybit.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.ETHUSDT"]}))
            await bybit.send(json.dumps({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}))
            await bybit.send(json.dumps({"op": "ping"}))
            await okx.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "OPTION2"}]}))
            await okx.send(json.dumps({"op": "subscribe", "args": [{"channel": "liquidation-orders",
                                                                     "instType": "SWAP"}]}))
            await okx.send("ping")
            await frames_for(bybit, 0.3)
            await frames_for(okx, 0.3)

    with streams() as server:
        asyncio.run(run(server))
        sent = server.sent()
    expected = {"ack": ls.Kind.SUBSCRIBED, "pong": ls.Kind.HEARTBEAT, "error": ls.Kind.ERROR, "data": ls.Kind.DATA}
    seen = collections.Counter()
    for frame in sent:
        venue = frame.stream.split("-")[0]
        assert ls.classify(venue, frame.text).kind == expected[frame.kind], frame
        seen[(venue, frame.kind)] += 1
    assert all(seen[(v, k)] >= 1 for v in ("bybit", "okx") for k in ("ack", "pong", "error", "data")), seen
