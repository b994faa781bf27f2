"""The demo's liquidation websocket feeds served on 127.0.0.1, so the collector can be run and tested offline.

One `websockets` asyncio server in a background thread (a context manager, like DemoApiServer) serves the three
venues' public endpoints under a path prefix per real host (`local_url` maps a real URL onto it):

    /binance-usdm/ws/!forceOrder@arr   (and /binance-usdm/ws/btcusdt@forceOrder)    wss://fstream.binance.com/ws/...
    /binance-coinm/ws/!forceOrder@arr  (and /binance-coinm/ws/btcusd_perp@forceOrder) wss://dstream.binance.com/ws/...
    /bybit/v5/public/linear, /bybit/v5/public/inverse                               wss://stream.bybit.com/v5/public/...
    /okx/ws/v5/public                                                               wss://ws.okx.com:8443/ws/v5/public

Each speaks its venue's protocol, with the frames of pipelines.demo.liquidation_feeds:
- Binance: the stream is named in the URL and pushes at once (no subscribe); protocol-level pings come from the
  server (websockets answers them on the client side); a connection lives at most 24 h (Binance's rule), in
  simulated time. Other text sent by the client is ignored.
- Bybit v5: waits for {"op":"subscribe","args":["allLiquidation.BTCUSDT"]} and acknowledges with
  {"success":true,"ret_msg":"","conn_id":…,"req_id":…,"op":"subscribe"}; a topic it does not serve is refused with
  {"success":false,"ret_msg":"error:handler not found,topic:<topic>",…} (the refusal Bybit sends, e.g.
  sieblyio/bybit-api#561) and nothing of that request is subscribed; {"op":"ping"} is answered with
  {"success":true,"ret_msg":"pong","conn_id":…,"req_id":…,"op":"ping"} (Bybit's "pong message of public channels").
- OKX v5: waits for {"op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]} and acknowledges
  each arg with {"event":"subscribe","arg":{…},"connId":…} (echoing "id" when the request has one); an unknown
  channel or instType gets {"event":"error","code":"60018","msg":"Wrong URL or channel:…,instType:… doesn't exist.
  …","connId":…} and a request that is not a valid op gets code 60012 "Invalid request: <text>"; the text "ping"
  is answered "pong".

Time is simulated (`SimClock`: a start instant and a speed-up factor), so a test replays a cascade hour in a second;
a frame is sent when the simulated clock reaches its push time, and a subscription gets the frames pushed after it
(what a connection misses while it is down is lost, as on the real feeds).

Fault injection per endpoint (`Faults`, set at start or with `set_faults`), for the collector's tests: abort the TCP
connection after N data frames, resend the last K data frames to a client that reconnects (duplicates), send a torn
(malformed) copy of the N-th data frame before it, refuse the subscription (Binance: the handshake is refused with
HTTP 451, as Binance answers from a restricted location), and stop answering application pings. Every frame the
server sends is recorded (`sent`) with the orders it carries, so a test can check what reached the warehouse.

The collector reaches them with `--base-url ws://127.0.0.1:PORT`, which puts each real URL under `/<real host>`
(`/fstream.binance.com/market/ws/!forceOrder@arr`, `/stream.bybit.com/v5/public/linear`, …): those paths are
served too.

Run by hand (e.g. the cascade of 2025-11-11 at 60x):

    .venv/bin/python -m pipelines.demo.ws_server --port 8788 --start 2025-11-11T00:00:00Z --speed 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import hashlib
import http
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from pipelines.demo.liquidation_feeds import STREAMS, LiquidationFeeds, Order, WireFrame, default_feeds
from pipelines.demo.server import wait_until_interrupted

BINANCE_MAX_CONNECTION_MS = 24 * 3_600_000  # "A single connection ... is only valid for 24 hours"
OKX_CHANNELS = ("liquidation-orders",)
OKX_INST_TYPES = ("SWAP", "FUTURES", "MARGIN", "OPTION")  # the channel's documented instTypes
# (venue, market) -> endpoint path; OKX serves every instType on one endpoint.
ENDPOINTS = {
    ("binance", "usdm"): "/binance-usdm/ws/!forceOrder@arr",
    ("binance", "coinm"): "/binance-coinm/ws/!forceOrder@arr",
    ("bybit", "linear"): "/bybit/v5/public/linear",
    ("bybit", "inverse"): "/bybit/v5/public/inverse",
    ("okx", "SWAP"): "/okx/ws/v5/public",
    ("okx", "FUTURES"): "/okx/ws/v5/public",
}
# The real hosts, and the prefix standing for each here.
HOST_PREFIXES = {
    "fstream.binance.com": "/binance-usdm",
    "dstream.binance.com": "/binance-coinm",
    "stream.bybit.com": "/bybit",
    "ws.okx.com": "/okx",
}


class SimClock:
    """Simulated UTC time: `start` when created (or restarted), advancing `speed` times as fast as the machine's
    monotonic clock (speed 3600: an hour a second)."""

    def __init__(self, start: dt.datetime, speed: float = 1.0):
        if start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware (UTC)")
        if not speed > 0:
            raise ValueError(f"SimClock speed must be > 0, got {speed}")
        self.start_ms = int(start.timestamp() * 1000)
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def now_ms(self) -> int:
        return self.start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now_ms() / 1000, dt.UTC)

    def real_seconds_until(self, sim_ms: int) -> float:
        return max(0.0, (sim_ms - self.now_ms()) / 1000 / self.speed)


def _demo_path(path: str) -> str:
    """A path under `/<real host>` (how the collector's --base-url redirects a venue's URL) as the demo's own:
    `/fstream.binance.com/market/ws/!forceOrder@arr` → `/binance-usdm/ws/!forceOrder@arr` (Binance's USDⓈ-M
    market streams moved under /market; the demo serves both)."""
    for host, prefix in HOST_PREFIXES.items():
        for head in (f"/{host}/", f"{prefix}/"):
            if path.startswith(head):
                rest = "/" + path[len(head):]
                return prefix + (rest[len("/market"):] if rest.startswith("/market/ws/") else rest)
    return path


@dataclass(frozen=True)
class Faults:
    """What goes wrong on one endpoint. Connections are numbered per endpoint from 1 (the first to connect)."""

    drop_after_frames: int | None = None  # abort the TCP connection (no close frame) after this many data frames …
    drop_connections: tuple[int, ...] = (1,)  # … on these connections
    resend_on_reconnect: int = 0  # a later connection first gets the last K data frames sent before (duplicates)
    malformed_at_frame: int | None = None  # a torn copy of the N-th data frame is sent just before it …
    malformed_connections: tuple[int, ...] = (1,)  # … on these connections
    refuse_subscription: bool = False  # every subscribe gets the venue's error frame (Binance: handshake HTTP 451)
    answer_pings: bool = True  # False: Bybit {"op":"ping"} and OKX "ping" go unanswered


@dataclass(frozen=True)
class SentFrame:
    stream: str
    connection: int
    kind: str  # data | resent | malformed | ack | error | pong
    sim_ms: int  # the simulated clock when it was sent
    text: str
    orders: tuple[Order, ...] = ()
    push_ms: int | None = None  # the frame's scheduled push time (data frames)


@dataclass
class _Route:
    stream: str
    venue: str
    topic: str | None  # Binance: the stream named in the path


class DemoLiquidationStreams:
    """Context manager: the demo liquidation endpoints on 127.0.0.1 (port 0 = any free port)."""

    def __init__(
        self,
        clock: SimClock,
        *,
        feeds: LiquidationFeeds | None = None,
        faults: Mapping[str, Faults] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = 10_000,
    ):
        for name in faults or {}:
            if name not in STREAMS:
                raise ValueError(f"faults for unknown liquidation stream {name!r}: use one of {', '.join(STREAMS)}")
        self.clock = clock
        self.feeds = feeds or default_feeds()
        self.host, self._port = host, port
        self._faults: dict[str, Faults] = dict(faults or {})
        self._lock = threading.Lock()
        self._sent: list[SentFrame] = []
        self._connections: dict[str, int] = {}
        self._history: dict[str, collections.deque] = {s: collections.deque(maxlen=history) for s in STREAMS}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="demo-liquidation-streams", daemon=True)

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> DemoLiquidationStreams:
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"demo liquidation streams could not start on {self.host}:{self._port}: "
                               f"{self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError(f"demo liquidation streams did not start on {self.host}:{self._port} within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 (reported by __enter__)
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, self.host, self._port, process_request=self._process_request) as server:
            self._port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # ---- addresses ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    def url_for(self, venue: str, market: str) -> str:
        """The URL of `venue`'s `market` endpoint (binance usdm/coinm, bybit linear/inverse, okx SWAP/FUTURES)."""
        path = ENDPOINTS.get((venue, market))
        if path is None:
            known = ", ".join(f"{v}/{m}" for v, m in ENDPOINTS)
            raise ValueError(f"no demo liquidation endpoint for {venue}/{market}: use one of {known}")
        return self.base_url + path

    def local_url(self, real_url: str) -> str:
        """The URL here standing for a venue's real one, e.g. wss://fstream.binance.com/ws/!forceOrder@arr."""
        parts = urlsplit(real_url)
        prefix = HOST_PREFIXES.get(parts.hostname or "")
        if prefix is None:
            raise ValueError(f"no demo liquidation endpoint for {real_url}: known hosts are {', '.join(HOST_PREFIXES)}")
        return self.base_url + _demo_path(prefix + parts.path)

    # ---- controls and records ----------------------------------------------------------------------------
    def set_faults(self, stream: str, faults: Faults) -> None:
        if stream not in STREAMS:
            raise ValueError(f"faults for unknown liquidation stream {stream!r}: use one of {', '.join(STREAMS)}")
        with self._lock:
            self._faults[stream] = faults

    def faults(self, stream: str) -> Faults:
        with self._lock:
            return self._faults.get(stream, Faults())

    def sent(self, stream: str | None = None, kinds: tuple[str, ...] | None = None) -> list[SentFrame]:
        with self._lock:
            return [f for f in self._sent
                    if (stream is None or f.stream == stream) and (kinds is None or f.kind in kinds)]

    def connections(self, stream: str) -> int:
        """How many connections `stream` has accepted so far."""
        with self._lock:
            return self._connections.get(stream, 0)

    def _record(self, frame: SentFrame) -> None:
        with self._lock:
            self._sent.append(frame)
            if frame.kind == "data":
                self._history[frame.stream].append(frame)

    # ---- websocket ---------------------------------------------------------------------------------------
    def _route(self, path: str) -> _Route | None:
        path = _demo_path(path.split("?", 1)[0])
        for (venue, _market), endpoint in ENDPOINTS.items():
            if venue == "binance":
                prefix = endpoint.rsplit("/", 1)[0] + "/"
                if path.startswith(prefix):
                    stream, topic = prefix.strip("/").split("/")[0], path[len(prefix):]
                    try:
                        self.feeds.topic_instruments(stream, topic)
                    except ValueError:
                        return None
                    return _Route(stream, venue, topic)
            elif path == endpoint:
                stream = "okx" if venue == "okx" else f"bybit-{endpoint.rsplit('/', 1)[1]}"
                return _Route(stream, venue, None)
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = self._route(request.path)
        if route is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no demo liquidation stream at {request.path}\n")
        if route.venue == "binance" and self.faults(route.stream).refuse_subscription:
            return connection.respond(http.HTTPStatus.UNAVAILABLE_FOR_LEGAL_REASONS,
                                      "Service unavailable from a restricted location (demo fault)\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        route = self._route(connection.request.path)
        if route is None:  # refused in _process_request already
            return
        with self._lock:
            number = self._connections[route.stream] = self._connections.get(route.stream, 0) + 1
        await _Session(self, connection, route, number).run()


class _Session:
    """One client connection: its subscriptions (topic -> the push time it has reached) and its two tasks."""

    def __init__(self, server: DemoLiquidationStreams, connection: ServerConnection, route: _Route, number: int):
        self.server, self.conn, self.route, self.number = server, connection, route, number
        self.stream = route.stream
        self.faults = server.faults(route.stream)
        self.topics: dict[str, int] = {}
        self.pushed_at: dict[str, tuple[int, int]] = {}  # topic -> (send ms of its last push, frames pushed in that ms)
        self.changed = asyncio.Event()
        self.data_frames = 0
        self.opened_ms = server.clock.now_ms()
        digest = hashlib.sha256(f"{self.stream}|{number}".encode()).hexdigest()
        self.conn_id = digest[:8] if route.venue == "okx" else f"{digest[:20]}-{number}"

    async def run(self) -> None:
        if self.route.topic is not None:  # Binance: the stream is in the URL
            self.topics[self.route.topic] = self.opened_ms
        tasks = {asyncio.create_task(self._read()), asyncio.create_task(self._write())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, kind: str, text: str, orders: tuple[Order, ...] = (), push_ms: int | None = None) -> None:
        await self.conn.send(text)
        self.server._record(SentFrame(self.stream, self.number, kind, self.server.clock.now_ms(), text, orders,
                                      push_ms))

    # ---- client messages -----------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for message in self.conn:
                if isinstance(message, bytes):
                    message = message.decode("utf-8", "replace")
                if self.route.venue == "bybit":
                    await self._bybit(message)
                elif self.route.venue == "okx":
                    await self._okx(message)
        except ConnectionClosed:
            pass

    async def _bybit(self, text: str) -> None:
        try:
            request = json.loads(text)
            op, req_id, args = request.get("op"), str(request.get("req_id", "")), request.get("args") or []
        except (ValueError, AttributeError):
            op, req_id, args = None, "", []
        reply = {"success": True, "ret_msg": "", "conn_id": self.conn_id, "req_id": req_id, "op": op or ""}
        if op == "ping":
            if self.faults.answer_pings:
                await self._send("pong", _compact({**reply, "ret_msg": "pong"}))
            return
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            await self._send("error", _compact({**reply, "success": False,
                                                "ret_msg": f"error:handler not found,op:{op}"}))
            return
        bad = [t for t in args if not self._serves(t)]
        if self.faults.refuse_subscription and op == "subscribe":
            bad = bad or list(args)
        if bad:
            await self._send("error", _compact({**reply, "success": False,
                                                "ret_msg": f"error:handler not found,topic:{bad[0]}"}))
            return
        for topic in args:
            if op == "subscribe":
                self.topics.setdefault(topic, self.server.clock.now_ms())
            else:
                self.topics.pop(topic, None)
        await self._send("ack", _compact(reply))
        self.changed.set()

    async def _okx(self, text: str) -> None:
        if text == "ping":
            if self.faults.answer_pings:
                await self._send("pong", "pong")
            return
        try:
            request = json.loads(text)
            op, args = request["op"], request["args"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            await self._send("error", _compact({"event": "error", "code": "60012", "msg": f"Invalid request: {text}",
                                                "connId": self.conn_id}))
            return
        head = {"id": request["id"]} if "id" in request else {}
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_type = arg.get("instType") if isinstance(arg, dict) else None
            if channel not in OKX_CHANNELS or inst_type not in OKX_INST_TYPES or (
                    self.faults.refuse_subscription and op == "subscribe"):
                msg = (f"Wrong URL or channel:{channel},instType:{inst_type} doesn't exist. Please use the correct "
                       "URL, channel and parameters referring to API document.")
                await self._send("error", _compact({**head, "event": "error", "code": "60018", "msg": msg,
                                                    "connId": self.conn_id}))
                continue
            if op == "subscribe":
                self.topics.setdefault(inst_type, self.server.clock.now_ms())
            else:
                self.topics.pop(inst_type, None)
            await self._send("ack", _compact({**head, "event": op, "arg": {"channel": channel, "instType": inst_type},
                                              "connId": self.conn_id}))
        self.changed.set()

    def _serves(self, topic: object) -> bool:
        if not isinstance(topic, str):
            return False
        try:
            self.server.feeds.topic_instruments(self.stream, topic)
        except ValueError:
            return False
        return True

    # ---- pushes ----------------------------------------------------------------------------------------------
    async def _write(self) -> None:
        clock = self.server.clock
        resend_pending = self.number > 1 and self.faults.resend_on_reconnect > 0
        deadline = self.opened_ms + BINANCE_MAX_CONNECTION_MS if self.route.venue == "binance" else None
        try:
            while True:
                if not self.topics:
                    await self.changed.wait()
                    self.changed.clear()
                    continue
                if resend_pending:
                    resend_pending = False
                    await self._resend()
                self.changed.clear()
                upcoming = [(frame, topic) for topic, cursor in self.topics.items()
                            if (frame := self._next(topic, cursor)) is not None]
                if deadline is not None and (not upcoming or min(f.send_ms for f, _ in upcoming) > deadline):
                    await asyncio.sleep(clock.real_seconds_until(deadline))
                    await self.conn.close(1000, "connection lifetime (24 h) reached")
                    return
                if not upcoming:
                    await self.changed.wait()
                    continue
                frame, topic = min(upcoming, key=lambda ft: (ft[0].send_ms, ft[1]))
                delay = clock.real_seconds_until(frame.send_ms)
                if delay > 0:
                    try:  # a (un)subscription meanwhile re-plans
                        await asyncio.wait_for(self.changed.wait(), timeout=delay)
                        continue
                    except TimeoutError:
                        pass
                if topic not in self.topics:
                    continue
                await self._push(frame, topic)
                same_ms = self.pushed_at.get(topic)
                self.pushed_at[topic] = (frame.send_ms, same_ms[1] + 1 if same_ms and same_ms[0] == frame.send_ms
                                         else 1)
                self.topics[topic] = frame.send_ms
                if (self.faults.drop_after_frames is not None and self.number in self.faults.drop_connections
                        and self.data_frames >= self.faults.drop_after_frames):
                    self.conn.transport.abort()  # a network cut: no close frame
                    return
        except ConnectionClosed:
            return

    def _next(self, topic: str, cursor: int) -> WireFrame | None:
        """The next frame of `topic` after the cursor: those sent in the cursor's very ms not pushed yet first."""
        pushed = self.pushed_at.get(topic)
        if pushed is not None and pushed[0] == cursor:
            same = self.server.feeds.frames_sent_at(self.stream, topic, cursor)
            if len(same) > pushed[1]:
                return same[pushed[1]]
        return self.server.feeds.next_frame(self.stream, topic, cursor)

    async def _push(self, frame: WireFrame, topic: str) -> None:
        self.data_frames += 1
        if (self.faults.malformed_at_frame == self.data_frames
                and self.number in self.faults.malformed_connections):
            await self._send("malformed", frame.text[: len(frame.text) // 2])
        await self._send("data", frame.text, frame.orders, frame.send_ms)

    async def _resend(self) -> None:
        with self.server._lock:
            history = [f for f in self.server._history[self.stream] if f.connection < self.number]
        for old in history[-self.faults.resend_on_reconnect:]:
            await self._send("resent", old.text, old.orders, old.push_ms)


def _compact(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--start", type=dt.datetime.fromisoformat, default=None,
                        help="simulated start instant, e.g. 2025-11-11T00:00:00Z (default: now)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    args = parser.parse_args()
    start = args.start.astimezone(dt.UTC) if args.start else dt.datetime.now(dt.UTC)
    with DemoLiquidationStreams(SimClock(start, args.speed), host=args.host, port=args.port) as server:
        for (venue, market) in ENDPOINTS:
            print(f"{venue}/{market}: {server.url_for(venue, market)}")
        print("(Ctrl-C to stop)")
        wait_until_interrupted()


if __name__ == "__main__":
    main()
